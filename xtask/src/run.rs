//! `cargo xtask run [--hv-cmdline "..."] [--guests] [--memory SIZE] [--cpus N] [--forward HOST:[ADDR:]PORT]...`:
//! build, then boot QEMU interactively (`--guests`: with Debian's Linux guests in dom0's
//! initrd, as `cargo xtask build --guests`; `--memory 1G`: the machine's memory instead of
//! 512M; `--cpus 2`: the machine's processors instead of 4; `--forward 10007:7`: the host's 127.0.0.1:10007 reaches TCP port 7 of the machine's
//! first DHCP address (dom0's on `xenbr0`), `--forward 8080:10.0.2.16:80` a given address).

use crate::qemu::{self, Images, Outcome};

const USAGE: &str = "usage: cargo xtask run [--hv-cmdline \"...\"] [--guests] [--memory SIZE] \
                     [--cpus N] [--forward HOST:[ADDR:]PORT]...";

/// Runs the command.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut hv_cmdline = String::new();
    let mut memory: Option<String> = None;
    let mut cpus: Option<String> = None;
    let mut forwards: Vec<(u16, String, u16)> = Vec::new();
    let mut guests = crate::build::LinuxGuests::Off;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if crate::build::parse_guests_flag(a, &mut guests) {
            continue;
        }
        match a.as_str() {
            "--hv-cmdline" => {
                hv_cmdline = it.next().ok_or("--hv-cmdline needs a value")?.clone();
            }
            s if s.starts_with("--hv-cmdline=") => hv_cmdline = s["--hv-cmdline=".len()..].into(),
            "--memory" => {
                memory = Some(it.next().ok_or("--memory needs a size (e.g. 1G)")?.clone())
            }
            "--cpus" => {
                let n = it.next().ok_or("--cpus needs a number of processors")?;
                cpus = Some(parse_cpus(n)?);
            }
            "--forward" => {
                let spec = it.next().ok_or("--forward needs HOST:[ADDR:]PORT")?;
                forwards.push(parse_forward(spec)?);
            }
            other => return Err(format!("run: unknown argument {other:?}\n{USAGE}")),
        }
    }
    crate::build::build_with(guests)?;
    qemu::ensure_qemu()?;
    let images = Images::in_dir(&qemu::images_dir());
    let args = with_option(
        qemu::qemu_args(&images, &hv_cmdline),
        "-m",
        memory.as_deref(),
    );
    let args = with_option(args, "-smp", cpus.as_deref());
    let fw: Vec<(u16, &str, u16)> = forwards
        .iter()
        .map(|(h, a, p)| (*h, a.as_str(), *p))
        .collect();
    let args = qemu::with_forwards(args, &fw);
    eprintln!("xtask: {} {}", qemu::QEMU, args.join(" "));
    let status = std::process::Command::new(qemu::QEMU)
        .args(&args)
        .status()
        .map_err(|e| format!("starting {}: {e}", qemu::QEMU))?;
    let outcome = Outcome::from_status(status);
    eprintln!("xtask: {}", outcome.message());
    if outcome.is_success() {
        Ok(())
    } else {
        Err(outcome.message())
    }
}

/// `HOST:PORT` or `HOST:ADDR:PORT` (host port on 127.0.0.1, the machine's address or ""
/// for its first DHCP address, its TCP port).
fn parse_forward(spec: &str) -> Result<(u16, String, u16), String> {
    let bad =
        |why: &str| format!("--forward {spec:?}: {why} (want HOST:[ADDR:]PORT, e.g. 10007:7)");
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, addr, port) = match parts.as_slice() {
        [h, p] => (*h, "", *p),
        [h, a, p] => (*h, *a, *p),
        _ => return Err(bad("not two or three fields")),
    };
    let port_of = |s: &str, what: &str| match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad(&format!("{what} {s:?} is not a port (1..65535)"))),
    };
    if !addr.is_empty() && addr.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(bad(&format!("{addr:?} is not an IPv4 address")));
    }
    Ok((
        port_of(host, "host port")?,
        addr.to_string(),
        port_of(port, "port")?,
    ))
}

/// QEMU's arguments with the machine's memory (`-m`) set to `size`, if given.
/// `args` with option `opt`'s value (e.g. `-m`'s) replaced by `value`, if given.
fn with_option(mut args: Vec<String>, opt: &str, value: Option<&str>) -> Vec<String> {
    if let (Some(v), Some(i)) = (value, args.iter().position(|a| a == opt)) {
        args[i + 1] = v.to_string();
    }
    args
}

/// `--cpus N`: 1 to 8 processors (the hypervisor starts at most 8).
fn parse_cpus(n: &str) -> Result<String, String> {
    match n.parse::<u32>() {
        Ok(c) if (1..=8).contains(&c) => Ok(c.to_string()),
        _ => Err(format!(
            "--cpus {n:?}: want 1 to 8 processors (the hypervisor starts at most 8)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_are_one_to_eight_and_replace_the_default() {
        assert_eq!(parse_cpus("2"), Ok("2".into()));
        for bad in ["0", "9", "x", "-1"] {
            assert!(parse_cpus(bad).unwrap_err().contains("1 to 8"), "{bad}");
        }
        let args: Vec<String> = ["-m", "512M", "-smp", "4"].map(String::from).to_vec();
        let args = with_option(args, "-smp", Some("2"));
        assert_eq!(with_option(args, "-m", None), ["-m", "512M", "-smp", "2"]);
    }

    #[test]
    fn forwards_are_host_port_optional_address_and_port() {
        assert_eq!(parse_forward("10007:7"), Ok((10007, String::new(), 7)));
        assert_eq!(
            parse_forward("8080:10.0.2.16:80"),
            Ok((8080, "10.0.2.16".into(), 80))
        );
        for bad in ["7", "0:7", "1:2:3:4", "x:7", "8080:10.0.2:80", "8080:70000"] {
            let e = parse_forward(bad).unwrap_err();
            assert!(e.contains("--forward"), "{bad}: {e}");
        }
        let args = qemu::with_forwards(
            vec!["-netdev".into(), qemu::NETDEV.into()],
            &[(10007, "", 7), (8080, "10.0.2.16", 80)],
        );
        assert_eq!(
            args[1],
            "user,id=n0,hostfwd=tcp:127.0.0.1:10007-:7,hostfwd=tcp:127.0.0.1:8080-10.0.2.16:80"
        );
    }

    #[test]
    fn memory_replaces_the_default() {
        let args: Vec<String> = ["-M", "microvm", "-m", "512M", "-display", "none"]
            .map(String::from)
            .to_vec();
        let a = with_option(args.clone(), "-m", Some("1G"));
        assert_eq!(a[2..4], ["-m", "1G"]);
        assert_eq!(with_option(args.clone(), "-m", None), args);
    }
}
