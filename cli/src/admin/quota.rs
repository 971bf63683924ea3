//! `set_quota` and `increase_quota`, with Aurora's data units.

use aurora_api::{Committed, QuotaView};
use aurora_events::ResourceAggregate;

use crate::context::Context;
use crate::exit::{CliError, CliResult};

/// Parses a data size in MB: `512`, `512M`, `2G`, `1T` (also `MB`, `GB`, `TB`, any case).
pub(crate) fn parse_mb(text: &str) -> CliResult<u64> {
    let trimmed = text.trim();
    let upper = trimmed.to_ascii_uppercase();
    let upper = upper.strip_suffix('B').unwrap_or(&upper);
    let (number, factor) = match upper.chars().last() {
        Some('M') => (&upper[..upper.len() - 1], 1.0),
        Some('G') => (&upper[..upper.len() - 1], 1024.0),
        Some('T') => (&upper[..upper.len() - 1], 1024.0 * 1024.0),
        _ => (upper, 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        CliError::invalid_parameter(format!(
            "{text:?} is not a data size: use e.g. 512M, 2G or 1T"
        ))
    })?;
    if !value.is_finite() || value < 0.0 {
        return Err(CliError::invalid_parameter(format!(
            "{text:?}: a data size cannot be negative"
        )));
    }
    Ok((value * factor).round() as u64)
}

fn parse_cpu(text: &str) -> CliResult<f64> {
    match text.trim().parse::<f64>() {
        Ok(cpus) if cpus.is_finite() && cpus >= 0.0 => Ok(cpus),
        _ => Err(CliError::invalid_parameter(format!(
            "{text:?} is not a cpu count: use e.g. 2 or 0.5"
        ))),
    }
}

pub(super) fn set(
    ctx: &Context,
    cluster: &str,
    role: &str,
    [cpu, ram, disk]: [&String; 3],
    increase: bool,
) -> CliResult {
    let mut quota = ResourceAggregate {
        cpus: parse_cpu(cpu)?,
        ram_mb: parse_mb(ram)?,
        disk_mb: parse_mb(disk)?,
    };
    let client = ctx.client(cluster)?;
    if increase {
        let current: QuotaView = client.get(&format!("/api/v1/quota/{role}"))?;
        quota.cpus += current.quota.cpus;
        quota.ram_mb += current.quota.ram_mb;
        quota.disk_mb += current.quota.disk_mb;
    }
    let _: Committed = client.put(&format!("/api/v1/quota/{role}"), &quota)?;
    println!(
        "Quota of {role} set to cpus {}, ram {} MB, disk {} MB",
        quota.cpus, quota.ram_mb, quota.disk_mb
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_units() {
        assert_eq!(parse_mb("512").unwrap(), 512);
        assert_eq!(parse_mb("512M").unwrap(), 512);
        assert_eq!(parse_mb("2g").unwrap(), 2048);
        assert_eq!(parse_mb("1.5GB").unwrap(), 1536);
        assert_eq!(parse_mb("1T").unwrap(), 1_048_576);
        assert!(parse_mb("lots").unwrap_err().message.contains("lots"));
        assert!(parse_mb("-1G").is_err());
        assert!(parse_cpu("-1").is_err());
    }
}
