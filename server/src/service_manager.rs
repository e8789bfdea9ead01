//! Readiness and stopping, told to systemd (`Type=notify`): `READY=1` once
//! the console listens with its database migrated (so `/healthz` answers),
//! `STOPPING=1` when it begins to stop. Outside systemd (no
//! `NOTIFY_SOCKET`) nothing is sent.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Tells the service manager the console is ready to serve.
pub fn ready() {
    notify("READY=1");
}

/// Tells the service manager the console is stopping.
pub fn stopping() {
    notify("STOPPING=1");
}

fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    if let Err(error) = send(&path, state) {
        tracing::warn!(socket = ?path, %error, "could not tell systemd {state}");
    }
}

fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    let bytes = path.as_encoded_bytes();
    // A socket in the abstract namespace is named with a leading '@'.
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name)?
        }
        None => SocketAddr::from_pathname(path)?,
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &address)?;
    Ok(())
}
