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
    assert_eq!(c.memory_pages(), 16 * 256);
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
    assert_eq!(
        error(&format!("{base}memory = 99999999999999999999999\n")),
        "example.cfg:3: memory: expected a number of MiB, got 99999999999999999999999"
    );
    assert_eq!(
        error(&format!("{base}memory = -1\n")),
        "example.cfg:3: memory: expected a number of MiB, got -1"
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
            if name == "bad-memory.cfg" || name == "bad-key.cfg" {
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
