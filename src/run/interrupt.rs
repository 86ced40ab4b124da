//! Ctrl+C and SIGTERM: the first one asks the run to stop (no new step or
//! chunk starts, a load in flight that is not a chunk is rolled back, the
//! state is saved); the second one exits at once.

use std::sync::Arc;

use tokio::sync::watch;

/// A run's stop request, set by a signal.
#[derive(Debug)]
pub struct Interrupt {
    sender: watch::Sender<bool>,
}

impl Interrupt {
    /// A stop request no signal sets (see [`Interrupt::listen`]).
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            sender: watch::channel(false).0,
        })
    }

    /// Sets the request on the first Ctrl+C or SIGTERM; exits with code 130
    /// on the second.
    pub fn listen(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut signals = 0;
            loop {
                if !wait_for_signal().await {
                    return;
                }
                signals += 1;
                if signals > 1 {
                    eprintln!("\nstopped at once; committed chunks are kept, rerun the same command to resume");
                    std::process::exit(130);
                }
                eprintln!(
                    "\ninterrupted: finishing the chunk in flight, rolling back other loads, saving state (press Ctrl+C again to stop at once)"
                );
                this.set();
            }
        });
    }

    /// Asks the run to stop.
    pub fn set(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_set(&self) -> bool {
        *self.sender.borrow()
    }

    /// Returns once the stop is asked.
    pub async fn wait(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|stop| *stop).await;
    }
}

/// Waits for Ctrl+C or SIGTERM; false when signals cannot be listened to.
async fn wait_for_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return false;
        };
        tokio::select! {
            _ = interrupt.recv() => true,
            _ = terminate.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
