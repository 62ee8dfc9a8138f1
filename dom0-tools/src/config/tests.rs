use super::*;

fn parse(text: &str) -> Result<DomainConfig, ConfigError> {
    DomainConfig::parse("example.cfg", text)
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn minimal_and_defaults() {
    let c = parse("name = \"domu\"\nkernel = \"/boot/pv-guest\"\n").unwrap();
    assert_eq!(c.name, "domu");
    assert_eq!(c.kernel, "/boot/pv-guest");
    assert_eq!(c.memory, DEFAULT_MEMORY_MIB);
    assert_eq!(c.maxmem, DEFAULT_MEMORY_MIB);
    assert_eq!(c.memory_pages(), Some(16 * 256));
    assert_eq!((c.vcpus, c.maxvcpus), (1, 1));
    assert_eq!(c.kernel_cmdline(), "");
    assert_eq!(c.ramdisk, None);
    assert_eq!(c.on_reboot, ShutdownAction::Restart);
}

#[test]
fn full_syntax() {
    let text = "# a comment\n\
        \n\
        name = 'web-1'   # trailing comment\n\
        kernel = \"/boot/pv-guest\";\n\
        memory = 32; vcpus = \"2\"\n\
        maxmem = 0x40\n\
        root = \"/dev/xvda1 ro\"\n\
        extra = \"greet \\\"x\\\"\\tq # not a comment\"\n\
        on_crash = \"preserve\"\n\
        type = \"pv\"\n";
    let c = parse(text).unwrap();
    assert_eq!(c.name, "web-1");
    assert_eq!(c.memory, 32);
    assert_eq!(c.maxmem, 64);
    assert_eq!(c.vcpus, 2);
    assert_eq!(c.on_crash, ShutdownAction::Preserve);
    assert_eq!(
        c.kernel_cmdline(),
        "root=/dev/xvda1 ro greet \"x\"\tq # not a comment"
    );
    let c = parse("name=\"a\"\nkernel=\"k\"\ncmdline=\"console=hvc0\"").unwrap();
    assert_eq!(c.kernel_cmdline(), "console=hvc0");
}

#[test]
fn lists_parse_but_unknown_keys_are_rejected() {
    let c = parse("name = \"a\"\nkernel=\"k\"\ndisk = [ 'a',\n 'b', ]\nvif=[]\n").unwrap();
    assert_eq!(c.disks, ["a", "b"]);
    assert!(c.vifs.is_empty());
    assert_eq!(
        error("name = \"a\"\nkernel=\"k\"\ndisks = [ 'a' ]\n"),
        "example.cfg:3: disks: unknown setting"
    );
    assert_eq!(
        error("name = \"a\"\nkernel=\"k\"\nvif = 'a'\n"),
        "example.cfg:3: vif: expected a list of strings, got \"a\""
    );
    assert_eq!(
        error("name = \"a\"\nkernel=\"k\"\nvif = [1]\n"),
        "example.cfg:3: vif: expected a list of strings, got 1 in the list"
    );
    assert_eq!(
        error("name = \"a\"\nmemory = [1, 2]\n"),
        "example.cfg:2: memory: expected a number of MiB, got a list"
    );
    assert_eq!(
        error("name = \"a\"\nkernel=\"k\"\nvif = [ 'a'\n"),
        "example.cfg:3: vif: unterminated list"
    );
}

#[test]
fn bad_values() {
    let base = "name = \"a\"\nkernel = \"k\"\n";
    assert_eq!(
        error(&format!("{base}memory = \"abc\"\n")),
        "example.cfg:3: memory: expected a number of MiB, got \"abc\""
    );
    assert_eq!(
        error(&format!("{base}memory = 16M\n")),
        "example.cfg:3: memory: expected a number of MiB, got 16M"
    );
    assert_eq!(
        error(&format!("{base}memory = 0\n")),
        "example.cfg:3: memory: must be between 1 and 4096 MiB, got 0"
    );
    // Numbers beyond 64 bits or negative are out of range, and the error names the range.
    assert_eq!(
        error(&format!("{base}memory = 99999999999999999999999\n")),
        "example.cfg:3: memory: must be between 1 and 4096 MiB, got 99999999999999999999999"
    );
    assert_eq!(
        error(&format!("{base}memory = \"18446744073709551616\"\n")),
        "example.cfg:3: memory: must be between 1 and 4096 MiB, got \"18446744073709551616\""
    );
    assert_eq!(
        error(&format!("{base}maxmem = 0x10000000000000000\n")),
        "example.cfg:3: maxmem: must be between 1 and 4096 MiB, got 0x10000000000000000"
    );
    assert_eq!(
        error(&format!("{base}memory = 4097\n")),
        "example.cfg:3: memory: must be between 1 and 4096 MiB, got 4097"
    );
    assert_eq!(
        error(&format!("{base}memory = -1\n")),
        "example.cfg:3: memory: must be between 1 and 4096 MiB, got -1"
    );
    assert_eq!(
        error(&format!("{base}cpu_weight = 4294967297\n")),
        "example.cfg:3: cpu_weight: must be between 1 and 65535, got 4294967297"
    );
    assert_eq!(
        error(&format!("{base}vcpus = 18446744073709551615\n")),
        "example.cfg:3: vcpus: must be between 1 and 32, got 18446744073709551615"
    );
    assert_eq!(
        error(&format!("{base}cap = 6401\n")),
        "example.cfg:3: cap: must be between 0 and 6400%, got 6401"
    );
    assert_eq!(
        error(&format!("{base}memory = 32\nmaxmem = 16\n")),
        "example.cfg:4: maxmem: must be at least memory (32 MiB), got 16"
    );
    assert_eq!(
        error(&format!("{base}vcpus = 33\n")),
        "example.cfg:3: vcpus: must be between 1 and 32, got 33"
    );
    assert_eq!(
        error(&format!("{base}type = \"hvm\"\n")),
        "example.cfg:3: type: only \"pv\" guests are supported, got \"hvm\""
    );
    assert_eq!(
        error(&format!("{base}on_crash = \"explode\"\n"))
            .split(" (")
            .next(),
        Some("example.cfg:3: on_crash: unknown action \"explode\"")
    );
    assert_eq!(
        error(&format!("{base}kernel2 = 5\n")),
        "example.cfg:3: kernel2: unknown setting"
    );
    assert_eq!(
        error(&format!("{base}ramdisk = 5\n")),
        "example.cfg:3: ramdisk: expected a string, got 5"
    );
    assert_eq!(
        error(&format!("{base}extra = \"a\"\ncmdline = \"b\"\n")),
        "example.cfg:4: cmdline: cannot be combined with root or extra"
    );
    let long = "x".repeat(1024);
    assert!(error(&format!("{base}extra = \"{long}\"\n"))
        .starts_with("example.cfg:3: kernel command line too long"));
}

#[test]
fn names() {
    assert_eq!(
        error("kernel = \"k\"\n"),
        "example.cfg: name: missing (every domain needs a name)"
    );
    assert_eq!(
        error("name = \"\"\n"),
        "example.cfg:1: name: must not be empty"
    );
    assert_eq!(
        error("name = \"a b\"\n"),
        "example.cfg:1: name: \"a b\" contains ' ' (allowed: letters, digits, '_', '.', '-')"
    );
    assert_eq!(
        error("name = \"123\"\n"),
        "example.cfg:1: name: \"123\" is all digits (it would read as a domain id)"
    );
    assert!(error(&format!("name = \"{}\"\n", "a".repeat(64))).contains("too long"));
    assert_eq!(
        error("name = \"a\"\n"),
        "example.cfg: kernel: missing (a PV guest needs kernel = \"/boot/...\")"
    );
    assert!(check_name("Domain-0").is_ok());
}

#[test]
fn syntax_errors() {
    assert_eq!(
        error("name \"a\"\n"),
        "example.cfg:1: expected \"=\" after \"name\""
    );
    assert_eq!(error("name = \"a\n"), "example.cfg:1: unterminated string");
    assert_eq!(error("\n\nname = \n"), "example.cfg:3: name: missing value");
    assert_eq!(
        error("name = domu\n"),
        "example.cfg:1: name: expected a value, got the bare word \"domu\" (quote strings)"
    );
    assert_eq!(
        error("name = \"a\" \"b\"\n"),
        "example.cfg:1: name: expected end of line after the value, got the string \"b\""
    );
    assert_eq!(
        error("name = \"a\"\nname = \"b\"\n"),
        "example.cfg:2: name: set twice (first on line 1)"
    );
    assert_eq!(
        error("= 5\n"),
        "example.cfg:1: expected a setting name, got \"=\""
    );
    assert_eq!(
        error("name = \"a\\q\"\n"),
        "example.cfg:1: unknown escape \"\\q\""
    );
    assert_eq!(
        error("name = @\n"),
        "example.cfg:1: unexpected character '@'"
    );
    assert_eq!(
        DomainConfig::parse_bytes("x.cfg", b"name = \"a\"\n\xff\n")
            .unwrap_err()
            .to_string(),
        "x.cfg:2: not valid UTF-8 text"
    );
}

#[test]
fn fuzz_no_panics() {
    let seeds = [
        "name = \"a\"\nkernel = \"k\"\nmemory = [1, 'x' ,\n]\n",
        "a=[[1]];;\n'\"\\",
    ];
    for seed in seeds {
        let b = seed.as_bytes();
        for i in 0..b.len() {
            for j in i..b.len() {
                let _ = DomainConfig::parse_bytes("f", &b[i..j]);
            }
        }
    }
}

#[test]
fn example_configs_parse() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cfg") {
            seen += 1;
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let r = DomainConfig::parse(&name, &text);
            if name.starts_with("bad-") && name != "bad-kernel.cfg" {
                assert!(r.is_err(), "{name} must be rejected");
            } else {
                assert!(r.is_ok(), "{name}: {:?}", r.err());
            }
        }
    }
    assert!(seen >= 8);
}

#[test]
fn scheduler_settings_and_actions() {
    let base = "name = \"a\"\nkernel = \"k\"\n";
    let c = parse(&format!(
        "{base}cpu_weight = 512\ncap = 50\non_reboot = 'preserve'\n"
    ))
    .unwrap();
    assert_eq!((c.cpu_weight, c.cap), (512, 50));
    assert_eq!(c.on_reboot, ShutdownAction::Preserve);
    assert_eq!(parse(base).unwrap().cpu_weight, DEFAULT_WEIGHT);
    assert_eq!(
        error(&format!("{base}cpu_weight = 0\n")),
        "example.cfg:3: cpu_weight: must be between 1 and 65535, got 0"
    );
    assert_eq!(
        error(&format!("{base}on_crash = \"coredump-destroy\"\n")),
        "example.cfg:3: on_crash: action \"coredump-destroy\" is not supported by this \
         toolstack (supported: destroy, restart, preserve)"
    );
}

#[test]
fn overrides_replace_file_settings() {
    let text = "name = \"a\"\nkernel = \"k\"\nmemory = 16\nextra = \"greet\"\n";
    let ov = |o: &[&str]| DomainConfig::parse_with_overrides("f.cfg", text, o);
    let c = ov(&["memory=32", "extra=test=pong peer=1", "name='b'"]).unwrap();
    assert_eq!((c.name.as_str(), c.memory), ("b", 32));
    assert_eq!(c.kernel_cmdline(), "test=pong peer=1");
    let c = ov(&["extra=\"x y\"", "disk=['d1','d2']", "on_crash=preserve"]).unwrap();
    assert_eq!(c.kernel_cmdline(), "x y");
    assert_eq!(c.disks, ["d1", "d2"]);
    assert_eq!(c.on_crash, ShutdownAction::Preserve);
    assert_eq!(
        ov(&["memory=1", "maxmem=0"]).unwrap_err().to_string(),
        "<command line>:2: maxmem: must be between 1 and 4096 MiB, got 0"
    );
    assert_eq!(
        ov(&["bogus=1"]).unwrap_err().to_string(),
        "<command line>:1: bogus: unknown setting"
    );
    assert_eq!(
        ov(&["memory"]).unwrap_err().to_string(),
        "<command line>:1: \"memory\": expected KEY=VALUE (e.g. memory=32 or extra=\"...\")"
    );
    // The file's own errors still name the file.
    let e = DomainConfig::parse_with_overrides("f.cfg", "name = 1\n", &["memory=2"]).unwrap_err();
    assert_eq!(e.to_string(), "f.cfg:1: name: expected a string, got 1");
}

/// A config of `n` distinct settings `k0 = 0`, `k1 = 1`, ... after name and kernel.
fn many_keys(n: usize) -> String {
    let mut text = String::from("name = \"a\"\nkernel = \"k\"\n");
    for i in 0..n {
        text.push_str(&format!("k{i} = {i}\n"));
    }
    text
}

#[test]
fn the_file_size_is_bounded() {
    let head = "name = \"a\"\nkernel = \"k\"\n";
    let at_limit = format!("{head}{}", "#".repeat(MAX_CONFIG_BYTES - head.len()));
    assert_eq!(at_limit.len(), MAX_CONFIG_BYTES);
    assert!(parse(&at_limit).is_ok());
    let over = format!("{at_limit}\n");
    assert_eq!(
        error(&over),
        "example.cfg: too large: 65537 bytes (a config file may have at most 65536)"
    );
    assert_eq!(
        DomainConfig::parse_bytes("big.cfg", over.as_bytes())
            .unwrap_err()
            .to_string(),
        "big.cfg: too large: 65537 bytes (a config file may have at most 65536)"
    );
}

#[test]
fn the_number_of_settings_is_bounded() {
    // 62 more than name and kernel: 64, the limit; the first unknown one is the error.
    assert_eq!(
        error(&many_keys(MAX_SETTINGS - 2)),
        "example.cfg:3: k0: unknown setting"
    );
    assert_eq!(
        error(&many_keys(MAX_SETTINGS - 1)),
        "example.cfg:65: k62: too many settings (a config may have at most 64, overrides \
         included)"
    );
    // Overrides count too; one replacing a setting adds none.
    let text = many_keys(MAX_SETTINGS - 2);
    let e = DomainConfig::parse_with_overrides("f.cfg", &text, &["k0=1", "memory=2"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<command line>:2: memory: too many settings (a config may have at most 64, overrides \
         included)"
    );
}

#[test]
fn many_keys_take_linear_time() {
    // The finding: tens of thousands of keys took quadratic time (each checked against every
    // earlier one) before the limits. Now the parse stops at the limit, whatever follows.
    let huge = many_keys(40_000);
    assert!(huge.len() > MAX_CONFIG_BYTES);
    let t = std::time::Instant::now();
    for _ in 0..100 {
        assert!(error(&huge).contains("too large"));
    }
    // Just under the size limit, as many settings as fit: stops at the 65th.
    let mut fits = many_keys(6000);
    fits.truncate(MAX_CONFIG_BYTES - 100);
    let cut = fits.rfind('\n').unwrap() + 1;
    fits.truncate(cut);
    for _ in 0..100 {
        assert!(error(&fits).contains("too many settings"));
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn a_repeated_setting_is_found_in_a_map() {
    // The duplicate is found whatever the number of settings before it.
    let mut text = String::from("name = \"a\"\nkernel = \"k\"\n");
    for key in ["memory", "maxmem", "vcpus", "cap", "cpu_weight", "extra"] {
        text.push_str(&format!("{key} = 1\n"));
    }
    text.push_str("vcpus = 1\n");
    assert_eq!(
        error(&text),
        "example.cfg:9: vcpus: set twice (first on line 5)"
    );
}

#[test]
fn names_values_and_lists_are_bounded() {
    let base = "name = \"a\"\nkernel = \"k\"\n";
    let key = "k".repeat(MAX_KEY_LEN + 1);
    assert_eq!(
        error(&format!("{base}{key} = 1\n")),
        "example.cfg:3: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...: setting name too long \
         (more than 64 bytes)"
    );
    // At the limit: an unknown setting, not a long one.
    let key = "k".repeat(MAX_KEY_LEN);
    assert!(error(&format!("{base}{key} = 1\n")).ends_with(": unknown setting"));
    let long = "x".repeat(MAX_VALUE_LEN + 1);
    assert_eq!(
        error(&format!("{base}extra = \"{long}\"\n")),
        "example.cfg:3: extra: value too long (more than 1024 bytes)"
    );
    assert_eq!(
        error(&format!("{base}memory = 1{}\n", "0".repeat(MAX_VALUE_LEN))),
        "example.cfg:3: memory: value too long (more than 1024 bytes)"
    );
    assert_eq!(
        error(&format!("{base}disk = ['a', \"{long}\"]\n")),
        "example.cfg:3: disk: value too long (more than 1024 bytes)"
    );
    // Escapes count as what they stand for: 1024 bytes of value, within the limit.
    let c = parse(&format!(
        "{base}disk = [\"{}\"]\n",
        "\\n".repeat(MAX_VALUE_LEN)
    ))
    .unwrap();
    assert_eq!(c.disks[0].len(), MAX_VALUE_LEN);
    let items = |n: usize| vec!["'d'"; n].join(", ");
    let c = parse(&format!("{base}disk = [{}]\n", items(MAX_LIST_ITEMS))).unwrap();
    assert_eq!(c.disks.len(), MAX_LIST_ITEMS);
    assert_eq!(
        error(&format!(
            "{base}vif = [\n{}\n]\n",
            items(MAX_LIST_ITEMS + 1)
        )),
        "example.cfg:3: vif: list too long (more than 32 items)"
    );
    // Overrides have the same limits.
    let e =
        DomainConfig::parse_with_overrides("f.cfg", base, &[&format!("extra={long}")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "<command line>:1: extra: value too long (more than 1024 bytes)"
    );
    let e = DomainConfig::parse_with_overrides("f.cfg", base, &[&format!("{}=1", "k".repeat(65))])
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("setting name too long (more than 64 bytes)"),
        "{e}"
    );
    // Long words in errors are cut.
    let word = "w".repeat(500);
    assert_eq!(
        error(&format!("{base}extra = {word}\n")),
        format!(
            "example.cfg:3: extra: expected a value, got the bare word \"{}...\" (quote strings)",
            "w".repeat(40)
        )
    );
}

#[test]
fn parsing_needs_heap_bounded_by_the_limits() {
    use crate::testalloc::peak_during;
    // The worst a file within the limits can do: every setting a full list of one-letter
    // strings (most values per byte of text), or a long string.
    let mut lists = String::new();
    for i in 0..MAX_SETTINGS {
        let items = vec!["'a'"; MAX_LIST_ITEMS].join(",");
        lists.push_str(&format!("k{i}=[{items}]\n"));
    }
    let mut strings = String::new();
    for i in 0..MAX_SETTINGS {
        strings.push_str(&format!("k{i}=\"{}\"\n", "s".repeat(MAX_VALUE_LEN - 10)));
    }
    // And beyond them, within the file size: many settings, one long list.
    let mut keys = many_keys(6000);
    keys.truncate(keys[..MAX_CONFIG_BYTES].rfind('\n').unwrap() + 1);
    let list = format!("disk = [{}]\n", vec!["'a'"; 16_000].join(","));
    for (text, why) in [
        (lists, "unknown setting"),
        (strings, "unknown setting"),
        (
            keys,
            "too many settings (a config may have at most 64, overrides included)",
        ),
        (list, "list too long (more than 32 items)"),
    ] {
        assert!(text.len() <= MAX_CONFIG_BYTES);
        let (r, peak) = peak_during(|| DomainConfig::parse("f.cfg", &text));
        let e = r.unwrap_err();
        assert!(e.reason.ends_with(why), "{e}");
        assert!(
            peak < 128 * 1024,
            "{peak} bytes of heap to parse {} bytes ({e})",
            text.len()
        );
    }
}

#[test]
fn vcpus_and_maxvcpus_as_xl_cfg() {
    let base = "name = \"a\"\nkernel = \"k\"\n";
    let c = parse(&format!("{base}vcpus = 3\n")).unwrap();
    assert_eq!((c.vcpus, c.maxvcpus), (3, 3), "maxvcpus defaults to vcpus");
    let c = parse(&format!("{base}vcpus = 2\nmaxvcpus = 8\n")).unwrap();
    assert_eq!((c.vcpus, c.maxvcpus), (2, 8));
    let c = parse(&format!("{base}maxvcpus = 4\n")).unwrap();
    assert_eq!((c.vcpus, c.maxvcpus), (1, 4), "vcpus defaults to 1");
    assert_eq!(
        error(&format!("{base}vcpus = 4\nmaxvcpus = 2\n")),
        "example.cfg:4: maxvcpus: must be at least vcpus (4), got 2"
    );
    assert_eq!(
        error(&format!("{base}vcpus = 0\n")),
        "example.cfg:3: vcpus: must be between 1 and 32, got 0"
    );
    assert_eq!(
        error(&format!("{base}maxvcpus = 33\n")),
        "example.cfg:3: maxvcpus: must be between 1 and 32, got 33"
    );
}

#[test]
fn cpus_and_cpus_soft() {
    use crate::cpumap::CpuMap;
    let base = "name = \"a\"\nkernel = \"k\"\nvcpus = 2\nmaxvcpus = 3\n";
    let c = parse(base).unwrap();
    assert_eq!((c.cpus.clone(), c.cpus_soft.clone()), (None, None));
    let c = parse(&format!("{base}cpus = \"0-3,5,^1\"\ncpus_soft = 'all'\n")).unwrap();
    let hard = c.cpus.as_ref().unwrap();
    for v in 0..3 {
        let m = hard.for_vcpu(v).unwrap().for_host(8).unwrap();
        assert_eq!(m.iter().collect::<Vec<_>>(), [0, 2, 3, 5], "vCPU {v}");
        let soft = c.cpus_soft.as_ref().unwrap().for_vcpu(v).unwrap();
        assert_eq!(soft.for_host(8).unwrap(), CpuMap::first(8));
    }
    // A list: element i for vCPU i, the rest unpinned; numbers are CPUs too.
    let c = parse(&format!(
        "{base}cpus = ['2', \"3-5,^4\"]\ncpus_soft = [1]\n"
    ))
    .unwrap();
    let hard = c.cpus.as_ref().unwrap();
    assert_eq!(
        hard.for_vcpu(0).unwrap().for_host(8).unwrap(),
        CpuMap::single(2)
    );
    assert_eq!(
        hard.for_vcpu(1)
            .unwrap()
            .for_host(8)
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        [3, 5]
    );
    assert_eq!(hard.for_vcpu(2), None);
    assert_eq!(
        c.cpus_soft.as_ref().unwrap().for_vcpu(0).unwrap().text(),
        "1"
    );
    assert_eq!(c.cpus_soft.as_ref().unwrap().for_vcpu(1), None);
    let c = parse(&format!("{base}cpus = 3\n")).unwrap();
    assert_eq!(c.cpus.unwrap().lists()[0].text(), "3");
    // Overrides replace them as any setting.
    let c = DomainConfig::parse_with_overrides(
        "example.cfg",
        &format!("{base}cpus = \"1\"\n"),
        &["cpus=0-1"],
    )
    .unwrap();
    assert_eq!(c.cpus.unwrap().lists()[0].text(), "0-1");
}

#[test]
fn bad_cpus_are_refused_naming_the_setting_and_the_item() {
    let base = "name = \"a\"\nkernel = \"k\"\nvcpus = 2\n";
    for (setting, want) in [
        (
            "cpus = \"0-3,x\"",
            "example.cfg:4: cpus: \"x\" is not a CPU, a range of CPUs or \"all\" (e.g. 3, 0-3, ^1, all)",
        ),
        (
            "cpus_soft = \"^1\"",
            "example.cfg:4: cpus_soft: CPU list \"^1\" selects no CPU",
        ),
        ("cpus = \"\"", "example.cfg:4: cpus: empty CPU list"),
        ("cpus = \"3-1\"", "example.cfg:4: cpus: \"3-1\": range 3-1 is backwards"),
        (
            "cpus = \"1000\"",
            "example.cfg:4: cpus: \"1000\": CPU 1000 is out of range (CPUs are numbered 0 to 255)",
        ),
        ("cpus = \"nodes:0-1\"", "example.cfg:4: cpus: \"nodes:0-1\": NUMA node lists"),
        (
            "cpus = [\"1\", \"2,,3\"]",
            "example.cfg:4: cpus: vCPU 1: empty item in CPU list \"2,,3\"",
        ),
        ("cpus = []", "example.cfg:4: cpus: empty list"),
        (
            "cpus = [\"1\", \"2\", \"3\"]",
            "example.cfg:4: cpus: 3 CPU lists (one per vCPU) for 2 vCPUs (maxvcpus = 2)",
        ),
    ] {
        let e = error(&format!("{base}{setting}\n"));
        assert!(e.starts_with(want), "{setting}: {e}");
    }
    assert_eq!(
        error("name = \"a\"\nkernel = \"k\"\ncpus_soft = ['0', '1']\n"),
        "example.cfg:3: cpus_soft: 2 CPU lists (one per vCPU) for 1 vCPU (maxvcpus = 1)"
    );
}
