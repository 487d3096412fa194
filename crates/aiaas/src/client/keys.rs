//! `aiaas keys create | list | revoke`: a server's API keys; `aiaas audit`: its audit log.

use super::show::{self, at, text, time};
use super::{Access, Client, block_on};
use crate::cli::{AuditArgs, KeysArgs, KeysCommand};
use crate::output::table::table;
use aiaas_types::{KeySpec, Role};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn run(args: KeysArgs, access: &Access) -> anyhow::Result<()> {
    let client = Client::new(&args.server.server, access)?;
    let json = args.server.json;
    block_on(async {
        match args.command {
            KeysCommand::Create {
                name,
                role,
                models,
                expires_in_days,
                rate_limit,
            } => {
                let spec = KeySpec {
                    name,
                    role: Role::from(role),
                    models,
                    expires_at_ms: expires_in_days.map(expiry_ms).transpose()?,
                    rate_limit,
                };
                let created = client.post_json("/keys", &spec).await?;
                show::print(&created, json, |k| {
                    println!(
                        "key {} ({}, {}) created; its secret is shown only now:\n{}",
                        text(at(k, "/id")),
                        text(at(k, "/name")),
                        text(at(k, "/role")),
                        text(at(k, "/key"))
                    )
                });
                Ok(())
            }
            KeysCommand::List => {
                let keys = client.get("/keys").await?;
                show::print(&keys, json, |keys| print!("{}", key_table(keys)));
                Ok(())
            }
            KeysCommand::Revoke { id } => {
                client.delete(&format!("/keys/{id}")).await?;
                if !json {
                    println!("key {id} revoked");
                }
                Ok(())
            }
        }
    })
}

/// `aiaas audit`: the entries since `--since`, oldest first.
pub fn audit(args: AuditArgs, access: &Access) -> anyhow::Result<()> {
    let client = Client::new(&args.server.server, access)?;
    block_on(async {
        let path = format!("/audit?since={}&limit={}", args.since, args.limit);
        let entries = client.get(&path).await?;
        show::print(&entries, args.server.json, |entries| {
            print!("{}", audit_table(entries))
        });
        Ok(())
    })
}

fn audit_table(entries: &Value) -> String {
    let rows: Vec<Vec<String>> = entries
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            vec![
                time(at(e, "/at_ms")),
                text(at(e, "/key_name")),
                text(at(e, "/role")),
                text(at(e, "/method")),
                text(at(e, "/target")),
                text(at(e, "/status")),
                text(at(e, "/client")),
            ]
        })
        .collect();
    table(
        &[
            "TIME", "KEY", "ROLE", "METHOD", "TARGET", "STATUS", "CLIENT",
        ],
        &rows,
    )
}

/// `--expires-in-days` as the time it names, in ms since the Unix epoch.
fn expiry_ms(days: f64) -> anyhow::Result<i64> {
    anyhow::ensure!(
        days.is_finite() && days > 0.0 && days <= 36_500.0,
        "--expires-in-days must be above 0 and at most 36500"
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    Ok(now + (days * 86_400_000.0) as i64)
}

fn key_table(keys: &Value) -> String {
    let rows: Vec<Vec<String>> = keys
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|k| {
            vec![
                text(at(k, "/id")),
                text(at(k, "/name")),
                text(at(k, "/role")),
                at(k, "/models").map_or_else(|| "all".to_string(), |m| text(Some(m))),
                time(at(k, "/created_at_ms")),
                time(at(k, "/expires_at_ms")),
                text(at(k, "/rate_limit")),
            ]
        })
        .collect();
    table(
        &[
            "ID", "NAME", "ROLE", "MODELS", "CREATED", "EXPIRES", "RATE/S",
        ],
        &rows,
    )
}
