//! Compiles `proto/grpc_service.proto` into the gRPC server and client (`aiaas_api::grpc::proto`),
//! with protox parsing the file: no system `protoc` needed.

fn main() {
    let proto = "proto/grpc_service.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"]).expect("the .proto file compiles");
    tonic_prost_build::configure()
        .build_transport(false)
        .compile_fds(descriptors)
        .expect("Rust code is generated from the .proto descriptors");
}
