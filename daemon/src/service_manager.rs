//! What `truced serve` tells a service manager through systemd's
//! `sd_notify` protocol (a datagram to `$NOTIFY_SOCKET`): READY=1 once
//! the store is open and the listener bound (so `systemctl start` returns
//! only then, and units ordered after truced find it serving),
//! RELOADING=1 … READY=1 around a reload of the tokens, STOPPING=1 when a
//! shutdown begins. Without `$NOTIFY_SOCKET` (not started by systemd with
//! `Type=notify`) nothing is sent. A failure to send is logged, never
//! fatal: serving matters more than telling.

use sd_notify::NotifyState;

/// Serving; `status` is shown by `systemctl status`.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload began; [`ready`] ends it.
pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

/// A shutdown began.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(false, states) {
        tracing::warn!(%error, "cannot notify the service manager");
    }
}
