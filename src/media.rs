//! Removable media: where cards come from and exports go.
//!
//! On the air-gapped console a custodian's card arrives on a USB stick and
//! an export bundle leaves on one. Front ends list what is mounted so an
//! officer sees which medium is which and whether it has room, before
//! anything is written. The kernel's own mount table is the source of
//! truth (no udev, no D-Bus on the console); a medium is anything mounted
//! under the places desktop automounters and operators use: `/media`,
//! `/run/media` and `/mnt`.

use std::path::{Path, PathBuf};

/// One mounted removable medium.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Medium {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The mount source, e.g. `/dev/sdb1`.
    pub device: String,
    /// File system type, e.g. `vfat`.
    pub fs_type: String,
    /// Bytes available to this (unprivileged) user; 0 if unknown.
    pub free_bytes: u64,
    /// Size of the file system; 0 if unknown.
    pub total_bytes: u64,
}

/// Mount roots that count as removable media.
pub const MEDIA_ROOTS: [&str; 3] = ["/media", "/run/media", "/mnt"];

/// The removable media mounted now, with their free space. Empty when the
/// mount table cannot be read (it is a display aid, never a gate).
pub fn removable_media() -> Vec<Medium> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    parse_mountinfo(&text)
        .into_iter()
        .map(|mut m| {
            if let Ok(s) = rustix::fs::statvfs(&m.mount_point) {
                m.free_bytes = s.f_bavail.saturating_mul(s.f_frsize);
                m.total_bytes = s.f_blocks.saturating_mul(s.f_frsize);
            }
            m
        })
        .collect()
}

/// A directory treated as a medium (`seedvault tui --media DIR`), with the
/// free space of the file system it is on.
pub fn directory(path: &Path) -> Medium {
    let mut m = Medium {
        mount_point: path.to_owned(),
        device: "directory".into(),
        fs_type: "--media".into(),
        free_bytes: 0,
        total_bytes: 0,
    };
    if let Ok(s) = rustix::fs::statvfs(path) {
        m.free_bytes = s.f_bavail.saturating_mul(s.f_frsize);
        m.total_bytes = s.f_blocks.saturating_mul(s.f_frsize);
    }
    m
}

/// The block-device mounts under [`MEDIA_ROOTS`] in a `/proc/<pid>/mountinfo`
/// text (free space left at 0).
/// Lines that do not parse are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Medium> {
    text.lines()
        .filter_map(parse_line)
        // A medium is a block device; tmpfs, bind-mounted helpers and
        // network shares under /mnt are not somewhere a card comes from.
        .filter(|m| m.device.starts_with("/dev/") && is_media_mount(&m.mount_point))
        .collect()
}

/// `36 35 98:0 /root /mnt/point rw,noatime shared:1 - ext4 /dev/sdb1 rw`:
/// field 5 is the mount point; after the `-` separator come the type and
/// the source.
fn parse_line(line: &str) -> Option<Medium> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let mut r = right.split(' ');
    let fs_type = r.next()?;
    let device = r.next()?;
    Some(Medium {
        mount_point: PathBuf::from(unescape(mount_point)),
        device: unescape(device),
        fs_type: unescape(fs_type),
        free_bytes: 0,
        total_bytes: 0,
    })
}

fn is_media_mount(p: &Path) -> bool {
    MEDIA_ROOTS
        .iter()
        .any(|root| p.starts_with(root) && p != Path::new(root))
}

/// The kernel escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            // \400 and above name no byte: keep such text as it is.
            match u8::try_from(v) {
                Ok(byte) => {
                    out.push(byte);
                    i += 4;
                }
                Err(_) => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A byte count for people: `1.9 GB`, `512 MB`, `40 kB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else if v < 10.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.0} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
24 22 0:22 / /run rw,nosuid,nodev shared:2 - tmpfs tmpfs rw,size=1623740k,mode=755
90 24 8:17 / /run/media/officer/CARD\\040ALICE rw,nosuid,nodev,relatime shared:40 - vfat /dev/sdb1 rw,fmask=0022
91 22 8:33 / /media/usb0 rw,relatime shared:41 - ext4 /dev/sdc1 rw
92 22 8:49 / /mnt rw,relatime shared:42 - ext4 /dev/sdd1 rw
93 22 8:50 / /mnt/export rw,relatime shared:43 master:7 - exfat /dev/sdd2 rw
95 22 0:55 / /mnt/helper ro,nosuid shared:45 - tmpfs none ro
94 22 8:51 / /mediaX/not rw,relatime shared:44 - ext4 /dev/sde1 rw
garbage line without separator
";

    #[test]
    fn parses_media_mounts_only() {
        let m = parse_mountinfo(SAMPLE);
        let points: Vec<_> = m
            .iter()
            .map(|m| m.mount_point.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            points,
            [
                "/run/media/officer/CARD ALICE",
                "/media/usb0",
                "/mnt/export"
            ]
        );
        assert_eq!(m[0].device, "/dev/sdb1");
        assert_eq!(m[0].fs_type, "vfat");
        assert_eq!(m[2].fs_type, "exfat");
        assert_eq!(m[2].device, "/dev/sdd2");
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"a\040b\134c"), r"a b\c");
        assert_eq!(unescape(r"trailing\04"), r"trailing\04");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1_900_000_000), "1.9 GB");
        assert_eq!(human_bytes(40_000), "40 kB");
    }

    #[test]
    fn reading_the_real_table_does_not_fail() {
        let _ = removable_media();
    }
}
