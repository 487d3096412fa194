//! Decoders that nothing can crash: the V2 request decoder (JSON and Triton's binary
//! extension, then the tensors into model inputs), the model archive reader (tar, manifest,
//! safetensors), and the CSV reader, each fed random bytes and mutations of a valid input
//! (`AIAAS_DECODER_CASES` of each, 100,000 by default, which CI runs). None may panic, and none
//! may allocate more than [`MAX_ALLOCATED`] for inputs of a few kilobytes: a size read from the
//! input must be checked before it is allocated.

#![allow(unsafe_code)]

use aiaas_artifact::{Bundle, sha256_hex};
use aiaas_serve::Signature;
use aiaas_serve::v2::InferRequest;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::OnceLock;

/// Most bytes one decode may have allocated at once, beyond what was allocated before it.
const MAX_ALLOCATED: usize = 64 << 20;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// The system allocator, counting what each thread holds and its peak.
struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// thread-local cells initialised without allocating.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count(delta: isize) {
    // `try_with`: during thread teardown the cells may be gone.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `decode` and fails if it allocated more than [`MAX_ALLOCATED`] at once.
fn bounded<T>(what: &str, decode: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = decode();
    let peak = PEAK.with(Cell::get) - base;
    prop_assert!(
        peak <= MAX_ALLOCATED as isize,
        "{what} allocated {peak} bytes at once"
    );
    Ok(out)
}

fn runner() -> TestRunner {
    let cases = std::env::var("AIAAS_DECODER_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100_000);
    TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    })
}

/// Random bytes, or `seed` with up to 8 edits (overwrite, insert, delete, or cut at a
/// position), half and half.
fn mutations(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let random = proptest::collection::vec(any::<u8>(), 0..2048);
    let edits =
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 0..8);
    let mutated = (prop::sample::select(seeds), edits).prop_map(|(mut bytes, edits)| {
        for (at, byte, op) in edits {
            let i = if bytes.is_empty() {
                0
            } else {
                at.index(bytes.len())
            };
            match op {
                0 if !bytes.is_empty() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                2 if !bytes.is_empty() => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i),
            }
        }
        bytes
    });
    prop_oneof![random, mutated]
}

/// Two bundles trained by the `aiaas` binary: iris (numbers only) and a small table with a text
/// column.
fn bundles() -> &'static [Bundle; 2] {
    static BUNDLES: OnceLock<[Bundle; 2]> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mixed: String = std::iter::once("color,size,target".to_string())
            .chain((0..40).map(|i| {
                let color = ["red", "green", "blue"][i % 3];
                format!("{color},{},{}", i % 7, if i % 2 == 0 { "a" } else { "b" })
            }))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.path().join("mixed.csv"), mixed).unwrap();
        let train = |data: &str, out: &str| {
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_aiaas"))
                .args([
                    "train", "--data", data, "--epochs", "1", "--hidden", "4", "--out", out,
                ])
                .current_dir(dir.path())
                .env("AIAAS_THREADS", "1")
                .output()
                .unwrap();
            assert!(
                status.status.success(),
                "{}",
                String::from_utf8_lossy(&status.stderr)
            );
            Bundle::read(&dir.path().join(out)).unwrap()
        };
        [train("iris", "iris"), train("mixed.csv", "mixed")]
    })
}

#[test]
fn the_v2_decoder_takes_anything() {
    let seeds = vec![
        br#"{"id":"a","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[5.1,3.5,1.4,0.2],[6,3,5,2]]}],"outputs":[{"name":"label"}]}"#.to_vec(),
        br#"{"inputs":[{"name":"color","shape":[1,1],"datatype":"BYTES","data":["red"]},{"name":"size","shape":[1,1],"datatype":"FP32","data":[3]}],"parameters":{"binary_data_output":true}}"#.to_vec(),
        {
            // Triton's binary extension: the JSON header, then 16 bytes of FP32.
            let mut body = br#"{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}]}"#.to_vec();
            body.extend([1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()));
            body
        },
    ];
    let models: Vec<_> = bundles()
        .iter()
        .map(|b| (b.manifest.schema.clone(), Signature::of(&b.manifest.schema)))
        .collect();
    runner()
        .run(&(mutations(seeds), 0..200usize), |(body, header)| {
            // The header length as a client could declare it: none, or any split of the body.
            let header = (header < 100).then(|| header.min(body.len()) + header % 3);
            let request = bounded("InferRequest::parse", || InferRequest::parse(&body, header))?;
            if let Ok(request) = request {
                for (schema, signature) in &models {
                    let mut raw = Vec::new();
                    let _ = bounded("Signature::prepare", || {
                        signature.prepare(schema, &request.inputs, Some(&mut raw))
                    })?;
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_archive_reader_takes_anything() {
    let mut seeds = Vec::new();
    for bundle in bundles() {
        let files = bundle.to_files().unwrap().into_iter().collect();
        seeds.push(aiaas_artifact::archive::pack(&files).unwrap());
    }
    runner()
        .run(&mutations(seeds), |bytes| {
            let _ = bounded("read_upload", || {
                aiaas_service::read_upload(&bytes, MAX_ALLOCATED / 4)
            })?;
            Ok(())
        })
        .unwrap();
}

/// The manifest and the safetensors weights, each mutated, behind a right digest, so that the
/// structure checks and the weights decoder see every mutation.
#[test]
fn the_manifest_and_weights_loader_takes_anything() {
    let mut manifests = Vec::new();
    let mut weights = Vec::new();
    for bundle in bundles() {
        for (name, bytes) in bundle.to_files().unwrap() {
            if name == "manifest.json" {
                manifests.push(bytes);
            } else {
                weights.push(bytes);
            }
        }
    }
    runner()
        .run(
            &(mutations(manifests), mutations(weights)),
            |(manifest, weights)| {
                let manifest = match serde_json::from_slice::<serde_json::Value>(&manifest) {
                    Ok(mut value) if value.get("files").is_some_and(|f| f.is_object()) => {
                        value["files"]["weights.safetensors"] = sha256_hex(&weights).into();
                        serde_json::to_vec(&value).unwrap()
                    }
                    _ => manifest,
                };
                let _ = bounded("Bundle::from_files", || {
                    Bundle::from_files(|file| {
                        Ok(match file {
                            "manifest.json" => Some(manifest.clone()),
                            _ => Some(weights.clone()),
                        })
                    })
                })?;
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn the_csv_reader_takes_anything() {
    let iris = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/iris.csv"))
        .unwrap();
    let seeds = vec![
        iris[..1500].to_vec(),
        b"color,size,target\nred,1,a\ngreen,2,b\n\"blue, dark\",3,a\n".to_vec(),
    ];
    runner()
        .run(&mutations(seeds), |bytes| {
            let _ = bounded("read_csv_bytes", || {
                aiaas_data::read_csv_bytes("fuzz.csv", &bytes, None, None)
            })?;
            Ok(())
        })
        .unwrap();
}

/// The bound above catches a decoder that trusts a declared size.
#[test]
fn an_allocation_past_the_bound_is_caught() {
    let trusting = bounded("a trusting decoder", || vec![0u8; MAX_ALLOCATED + 1].len());
    assert!(trusting.is_err());
    assert!(bounded("a careful decoder", || vec![0u8; 1024].len()).is_ok());
}
