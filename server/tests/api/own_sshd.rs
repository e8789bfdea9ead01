//! A private OpenSSH sshd for the tests that must replace its host key or
//! kill it mid-command without disturbing the shared staging host: same
//! authorized key as the staging host, its own host key and port.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

pub struct OwnSshd {
    pub dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl OwnSshd {
    pub fn start() -> Self {
        Self::start_allowing("")
    }

    /// Like [`OwnSshd::start`], also letting `extra_user` in with the same
    /// key (the authorized keys are copied where any user can read them).
    pub fn start_allowing(extra_user: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ocpizza-sshd-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sshd = Self { dir, port, child: None };
        sshd.new_host_key();
        let authorized = sshd.dir.join("authorized_keys");
        std::fs::copy(
            std::env::var("STAGING_DIR").expect("STAGING_DIR: run through scripts/test") + "/ssh/authorized_keys",
            &authorized,
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        for (path, mode) in [(&sshd.dir, 0o755), (&authorized, 0o644)] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let user = std::env::var("STAGING_SSH_USER").unwrap();
        std::fs::write(
            sshd.dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nAuthorizedKeysFile {authorized}\nPidFile {pid}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
                 StrictModes no\nUsePAM no\nAllowUsers {user} {extra_user}\n",
                authorized = authorized.display(),
                key = sshd.dir.join("host_key").display(),
                pid = sshd.dir.join("sshd.pid").display(),
            ),
        )
        .unwrap();
        sshd.run();
        sshd
    }

    /// Replaces the host key (takes effect at the next start).
    pub fn new_host_key(&self) {
        let key = self.dir.join("host_key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        let status = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn run(&mut self) {
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-f"])
            .arg(self.dir.join("sshd_config"))
            .arg("-E")
            .arg(self.dir.join("sshd.log"))
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the test sshd did not start");
    }

    /// Kills the listener and every session it forked, at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnSshd {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
