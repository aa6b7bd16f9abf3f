//! Which platforms the daemon can build (issue 34): its own, and those an emulator is
//! registered for in the kernel's binfmt_misc (Debian's qemu-user-static, tonistiigi/binfmt),
//! which BuildKit runs a foreign platform's `RUN` steps through.

use std::path::Path;

use super::{Check, check};

/// Where the kernel lists binfmt_misc handlers.
pub const BINFMT_MISC: &str = "/proc/sys/fs/binfmt_misc";

/// One registered binfmt_misc handler that emulates a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emulator {
    /// Its name under binfmt_misc (`qemu-aarch64`).
    pub name: String,
    /// The platform it runs (`linux/arm64`).
    pub platform: String,
    /// Registered with the F flag: the kernel holds the interpreter open, so it also works
    /// inside containers whose filesystem lacks it.
    pub fixed: bool,
}

/// The enabled qemu handlers of the binfmt_misc directory `dir`; `None` when it is not
/// mounted (no `status` file).
pub fn emulators(dir: &Path) -> Option<Vec<Emulator>> {
    if !dir.join("status").exists() {
        return None;
    }
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Some(out);
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(arch) = name.strip_prefix("qemu-") else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if text.lines().next() != Some("enabled") {
            continue;
        }
        let Some(platform) = qemu_platform(arch) else {
            continue;
        };
        let fixed = text
            .lines()
            .find_map(|l| l.strip_prefix("flags: "))
            .is_some_and(|f| f.contains('F'));
        out.push(Emulator {
            name,
            platform,
            fixed,
        });
    }
    out.sort_by(|a, b| a.platform.cmp(&b.platform));
    Some(out)
}

/// The platform of a qemu user-mode emulator's architecture name.
fn qemu_platform(arch: &str) -> Option<String> {
    let arch = match arch {
        "mips64el" => "mips64le",
        "mipsel" => "mipsle",
        "ppc64le" | "s390x" | "riscv64" | "mips64" | "mips" | "loong64" => arch,
        "aarch64" | "arm" | "x86_64" | "i386" => arch,
        _ => return None,
    };
    crate::platform::normalize(&format!("linux/{arch}")).ok()
}

/// The check: the daemon's platform and the emulated ones (never a failure: most projects
/// build for the daemon's platform only).
pub(super) fn check_platforms(native: &str, local_daemon: bool, dir: &Path) -> Check {
    let own = format!("{native} (native)");
    let detail = match emulators(dir) {
        None => format!(
            "{own} only: binfmt_misc is not mounted at {} (`mount -t binfmt_misc binfmt_misc {0}`, then Debian's qemu-user-static registers its emulators), so `platform:` entries of other architectures cannot RUN",
            dir.display()
        ),
        Some(list) => {
            let others: Vec<String> = list
                .iter()
                .filter(|e| e.platform != native)
                .map(|e| {
                    let how = if e.fixed { "" } else { ", without the F flag" };
                    format!("{} (emulated by {}{how})", e.platform, e.name)
                })
                .collect();
            if others.is_empty() {
                format!(
                    "{own} only: no qemu emulator is registered in {} (Debian's qemu-user-static registers them)",
                    dir.display()
                )
            } else {
                format!("{own}, {}", others.join(", "))
            }
        }
    };
    let detail = if local_daemon {
        detail
    } else {
        format!("{detail}; emulators as registered on this host, not the daemon's")
    };
    check("platforms", true, detail, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(dir: &Path, name: &str, enabled: bool, flags: &str) {
        std::fs::write(
            dir.join(name),
            format!(
                "{}\ninterpreter /usr/libexec/qemu-binfmt/x\nflags: {flags}\noffset 0\nmagic 7f454c46\n",
                if enabled { "enabled" } else { "disabled" }
            ),
        )
        .expect("write");
    }

    #[test]
    fn registered_qemu_handlers_name_their_platforms() {
        let d = tempfile::tempdir().expect("tmp");
        assert_eq!(emulators(d.path()), None);
        let c = check_platforms("linux/amd64", true, d.path());
        assert!(c.ok && c.detail.contains("not mounted"), "{}", c.detail);
        std::fs::write(d.path().join("status"), "enabled\n").expect("write");
        std::fs::write(d.path().join("register"), "").expect("write");
        handler(d.path(), "qemu-aarch64", true, "POF");
        handler(d.path(), "qemu-arm", true, "P");
        handler(d.path(), "qemu-s390x", false, "F");
        handler(d.path(), "python3.11", true, "");
        let list = emulators(d.path()).expect("mounted");
        let names: Vec<(&str, &str, bool)> = list
            .iter()
            .map(|e| (e.name.as_str(), e.platform.as_str(), e.fixed))
            .collect();
        assert_eq!(
            names,
            [
                ("qemu-arm", "linux/arm/v7", false),
                ("qemu-aarch64", "linux/arm64", true)
            ]
        );
        let c = check_platforms("linux/amd64", false, d.path());
        assert_eq!(
            c.detail,
            "linux/amd64 (native), linux/arm/v7 (emulated by qemu-arm, without the F flag), linux/arm64 (emulated by qemu-aarch64); emulators as registered on this host, not the daemon's"
        );
    }
}
