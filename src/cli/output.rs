//! Everything the command line prints leaves through here, scrubbed of
//! secrets ([`crate::redact::scrub`]): the verbs' text, the final error,
//! clap's errors, panics, and the log (through [`Scrubbing`]).

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::redact::scrub;

/// Prints `text` on stdout as it is (it brings its own line ends).
pub(super) fn stdout_text(text: &str) {
    print!("{}", scrub(text));
}

/// Prints `text` and a line end on stdout.
pub(super) fn stdout_line(text: &str) {
    println!("{}", scrub(text));
}

/// Prints `text` on stderr as it is (a prompt).
pub(super) fn stderr_text(text: &str) {
    eprint!("{}", scrub(text));
}

/// Prints `text` and a line end on stderr.
pub(super) fn stderr_line(text: &str) {
    eprintln!("{}", scrub(text));
}

/// Logs to stderr at the level `-v` sets (RUST_LOG overrides it), every
/// line scrubbed.
pub(super) fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(Scrubbing(std::io::stderr))
        .init();
}

/// Panics print their message scrubbed (a message may quote SQL or a URL).
pub(super) fn scrub_panics() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let backtrace = std::backtrace::Backtrace::capture();
        let trace = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
            _ => "\nnote: run with `RUST_BACKTRACE=1` to display a backtrace".to_string(),
        };
        stderr_line(&format!(
            "thread '{}' {info}{trace}",
            thread.name().unwrap_or("<unnamed>")
        ));
    }));
}

/// A clap error (a bad command line) printed scrubbed, or help and version
/// printed as clap prints them; returns the exit code.
pub(super) fn clap_error(e: clap::Error) -> i32 {
    if !e.use_stderr() {
        // --help, --version: nothing of the user's in them.
        let _ = e.print();
    } else {
        stderr_text(&e.render().to_string());
    }
    e.exit_code()
}

/// A tracing writer maker whose writers scrub every line before it reaches
/// the writer `M` makes.
pub struct Scrubbing<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Scrubbing<M> {
    type Writer = ScrubbedLines<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbedLines {
            inner: self.0.make_writer(),
            pending: Vec::new(),
        }
    }
}

/// Holds what is written until a line ends, then writes the complete
/// lines scrubbed; the rest goes out scrubbed on flush or drop.
pub struct ScrubbedLines<W: Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: Write> ScrubbedLines<W> {
    fn emit(&mut self, upto: usize) -> std::io::Result<()> {
        let text: Vec<u8> = self.pending.drain(..upto).collect();
        self.inner
            .write_all(scrub(&String::from_utf8_lossy(&text)).as_bytes())
    }
}

impl<W: Write> Write for ScrubbedLines<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if let Some(end) = self.pending.iter().rposition(|&b| b == b'\n') {
            self.emit(end + 1)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            self.emit(self.pending.len())?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for ScrubbedLines<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn log_lines_are_scrubbed_even_when_a_secret_is_written_in_pieces() {
        crate::redact::register("L0g/S3cret?");
        let out = Shared::default();
        let target = out.clone();
        let maker = Scrubbing(move || target.clone());
        {
            let mut w = maker.make_writer();
            w.write_all(b"connecting with L0g/S3").unwrap();
            // Nothing leaves before the line ends.
            assert_eq!(out.text(), "");
            w.write_all(b"cret? to postgres://u:pw@h/db\nthen L0g/")
                .unwrap();
            assert_eq!(out.text(), "connecting with *** to postgres://u:***@h/db\n");
            w.write_all(b"S3cret? without a line end").unwrap();
        }
        assert_eq!(
            out.text(),
            "connecting with *** to postgres://u:***@h/db\nthen *** without a line end"
        );
    }

    #[test]
    fn tracing_events_reach_the_log_scrubbed() {
        crate::redact::register("Tr4ce%Secret");
        let out = Shared::default();
        let target = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(Scrubbing(move || target.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                sql = "SELECT 'Tr4ce%Secret'",
                "step failed with Tr4ce%25Secret"
            );
        });
        let text = out.text();
        assert!(text.contains("step failed with ***"), "{text}");
        assert!(text.contains("SELECT '***'"), "{text}");
        assert!(!text.contains("Tr4ce"), "{text}");
    }
}
