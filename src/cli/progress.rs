//! What the user sees on stderr while a scan runs: a progress bar on a terminal (nothing
//! with `-q` or when stderr is not a terminal), and `-v` logs through `tracing`.

use std::io::{self, IsTerminal};
use std::time::Duration;

use atrest::report::{Header, ReportSink, Summary};
use atrest::verdict::Record;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// `-q` / `-v`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ui {
    /// `-q`.
    pub quiet: bool,
    /// `-v` count.
    pub verbose: u8,
}

impl Ui {
    /// Sends `tracing` events to stderr at the level `-v` asks for (nothing by default).
    pub fn init_logging(self) {
        let level = match self.verbose {
            0 => return,
            1 => tracing::Level::INFO,
            _ => tracing::Level::DEBUG,
        };
        let _ = tracing_subscriber::fmt()
            .with_writer(io::stderr)
            .with_max_level(level)
            .with_target(false)
            .with_ansi(io::stderr().is_terminal())
            .try_init();
    }

    /// A spinner counting keys, when a person is watching stderr.
    pub fn progress(self) -> Option<ProgressBar> {
        if self.quiet || self.verbose > 0 || !io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {human_pos} keys scanned ({per_sec}, {elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        Some(bar)
    }
}

/// Turns the spinner into a bar with an ETA once the number of `items` (e.g. "keys") is known.
pub fn set_total(bar: &ProgressBar, total: u64, items: &str) {
    bar.set_length(total);
    let template =
        format!("{{bar:30}} {{human_pos}}/{{human_len}} {items} ({{per_sec}}, ETA {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
}

/// Counts records on their way to the report.
pub struct ProgressSink<'a> {
    inner: &'a mut dyn ReportSink,
    bar: Option<ProgressBar>,
}

impl<'a> ProgressSink<'a> {
    /// Wraps `inner`; `bar` None draws nothing.
    pub fn new(inner: &'a mut dyn ReportSink, bar: Option<ProgressBar>) -> Self {
        Self { inner, bar }
    }

    /// Clears the bar (before the table or errors are printed).
    pub fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl ReportSink for ProgressSink<'_> {
    fn begin(&mut self, header: &Header) -> io::Result<()> {
        tracing::info!(revision = header.revision, prefix = %header.prefix, "scan started");
        self.inner.begin(header)
    }

    fn record(&mut self, rec: &Record) -> io::Result<()> {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
        self.inner.record(rec)
    }

    fn finish(&mut self, summary: &Summary) -> io::Result<()> {
        self.done();
        self.inner.finish(summary)
    }
}

/// Scans `session` into `sink` with a progress bar (its total counted first) unless `-q` or
/// stderr is not a terminal.
pub fn scan(
    session: &mut atrest::scan::Session,
    history: bool,
    sink: &mut dyn ReportSink,
    ui: Ui,
) -> Result<Summary, atrest::scan::ScanError> {
    let bar = ui.progress();
    if let Some(bar) = &bar
        && let Ok(total) = session.count()
    {
        set_total(bar, total, "keys");
    }
    let mut progress = ProgressSink::new(sink, bar);
    let result = session.scan(history, &mut progress);
    progress.done();
    result
}
