//! Any file: opening and scanning a snapshot never panics and always terminates (cycle and
//! depth guards), whatever the meta, branch and leaf pages claim.
#![no_main]
use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(data).unwrap();
    if let Ok(snap) = atrest::source::snapshot::Snapshot::open(file.path()) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let drain = std::thread::spawn(move || while rx.blocking_recv().is_some() {});
        let _ = snap.scan(b"", None, tx);
        drain.join().unwrap();
        let _ = snap.for_each_revision(&mut |_| std::ops::ControlFlow::Continue(()));
        let _ = snap.scan_free_pages(&[b"k8s:enc:"]);
    }
});
