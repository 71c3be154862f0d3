//! The agent's configuration file: where the server is, who this agent is, and its device
//! credential. The credential is a secret, so the file is written with mode 0600 and replaced
//! atomically (a crash never leaves half a config).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where `enroll` writes and `run` reads when `--config` is not given.
pub const SYSTEM_CONFIG: &str = "/etc/zerotrace/agent.toml";
/// Where a root agent keeps its state and spool (writable under the systemd unit's sandbox).
pub const SYSTEM_STATE_DIR: &str = "/var/lib/zerotrace-agent";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no configuration at {0}: run `zerotrace-agent enroll --server URL --token TOKEN` first"
    )]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid agent configuration: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no home directory: set HOME or XDG_CONFIG_HOME, or pass --config")]
    NoHome,
}

/// What `enroll` learned, plus the operator's optional settings (all with defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the ZeroTrace server (`https://zerotrace.example`).
    pub server: String,
    pub agent_id: String,
    pub org_id: String,
    /// The device credential (`Authorization: Bearer …`).
    pub credential: String,
    /// State file and inventory spool.
    pub state_dir: PathBuf,
    #[serde(default)]
    pub settings: Settings,
}

/// Tunables. Flags of `run` override them; the file overrides the defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Seconds between inventories (a random 10% is added or taken so fleets spread out).
    pub inventory_interval_secs: u64,
    /// Heartbeat period; when absent the server's answer decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_secs: Option<u64>,
    /// CPU cap of a scan, in percent of one core.
    pub cpu_limit_percent: f64,
    /// The filesystem root to inventory.
    pub scan_root: PathBuf,
    /// Spool bounds: snapshots waiting for delivery beyond these are dropped, oldest first.
    pub spool_max_snapshots: usize,
    pub spool_max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            inventory_interval_secs: 4 * 3600,
            heartbeat_interval_secs: None,
            cpu_limit_percent: 5.0,
            scan_root: PathBuf::from("/"),
            spool_max_snapshots: 16,
            spool_max_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config
            .settings
            .check()
            .map_err(|message| ConfigError::Invalid {
                path: path.to_owned(),
                message,
            })?;
        Ok(config)
    }

    /// Writes the file with mode 0600 (its directory 0700 when created here), replacing any old
    /// one in one rename.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = toml::to_string(self).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let text = format!(
            "# Written by `zerotrace-agent enroll`. The credential is a secret: keep this file 0600.\n{text}"
        );
        write_private(path, text.as_bytes(), true).map_err(|source| ConfigError::Write {
            path: path.to_owned(),
            source,
        })
    }
}

impl Settings {
    pub fn check(&self) -> Result<(), String> {
        if !(self.cpu_limit_percent > 0.0 && self.cpu_limit_percent <= 100.0) {
            return Err(format!(
                "settings.cpu_limit_percent must be in (0, 100], not {}",
                self.cpu_limit_percent
            ));
        }
        if self.inventory_interval_secs < 60 {
            return Err("settings.inventory_interval_secs must be at least 60".into());
        }
        if self.heartbeat_interval_secs == Some(0) {
            return Err("settings.heartbeat_interval_secs must be at least 1".into());
        }
        if self.spool_max_snapshots == 0 {
            return Err("settings.spool_max_snapshots must be at least 1".into());
        }
        Ok(())
    }
}

/// The default configuration path: the system one for root, the user's otherwise.
pub fn default_path() -> Result<PathBuf, ConfigError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(PathBuf::from(SYSTEM_CONFIG));
    }
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => return Err(ConfigError::NoHome),
        },
    };
    Ok(base.join("zerotrace").join("agent.toml"))
}

/// Where state goes for a config at `config_path`: `/var/lib/zerotrace-agent` for the system
/// config (so `/etc` stays read-only for the daemon), otherwise next to the config.
pub fn default_state_dir(config_path: &Path) -> PathBuf {
    if config_path == Path::new(SYSTEM_CONFIG) {
        return PathBuf::from(SYSTEM_STATE_DIR);
    }
    config_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned)
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes `bytes` to `path` through a 0600 temporary file in the same directory and a rename.
/// `durable` also flushes the data to disk first; files rewritten every minute skip that, so an
/// idle agent does not wake the disk (the rename alone never leaves a torn file).
pub fn write_private(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // An older temporary file keeps its mode through `open`; force it.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(state_dir: &Path) -> Config {
        Config {
            server: "http://127.0.0.1:8080".into(),
            agent_id: "0190-agent".into(),
            org_id: "0190-org".into(),
            credential: "ztd_secret".into(),
            state_dir: state_dir.to_owned(),
            settings: Settings::default(),
        }
    }

    #[test]
    fn saved_config_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/agent.toml");
        let config = sample(dir.path());
        config.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(Config::load(&path).unwrap(), config);
    }

    #[test]
    fn settings_default_when_absent_and_typos_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        fs::write(
            &path,
            "server = \"http://x\"\nagent_id = \"a\"\norg_id = \"o\"\ncredential = \"c\"\nstate_dir = \"/tmp/s\"\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.settings.inventory_interval_secs, 14_400);
        assert_eq!(config.settings.cpu_limit_percent, 5.0);

        fs::write(
            &path,
            "server = \"http://x\"\nagent_id = \"a\"\norg_id = \"o\"\ncredential = \"c\"\nstate_dir = \"/tmp/s\"\n[settings]\ncpu_limit = 3\n",
        )
        .unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(error.contains("cpu_limit"), "{error}");

        fs::write(
            &path,
            "server = \"http://x\"\nagent_id = \"a\"\norg_id = \"o\"\ncredential = \"c\"\nstate_dir = \"/tmp/s\"\n[settings]\ncpu_limit_percent = 0.0\n",
        )
        .unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(error.contains("cpu_limit_percent must be"), "{error}");
    }

    #[test]
    fn missing_config_says_how_to_enroll() {
        let dir = tempfile::tempdir().unwrap();
        let error = Config::load(&dir.path().join("none.toml")).unwrap_err();
        assert!(matches!(error, ConfigError::Missing(_)));
        assert!(error.to_string().contains("zerotrace-agent enroll"));
    }

    #[test]
    fn state_dir_of_the_system_config_is_under_var_lib() {
        assert_eq!(
            default_state_dir(Path::new(SYSTEM_CONFIG)),
            PathBuf::from(SYSTEM_STATE_DIR)
        );
        assert_eq!(
            default_state_dir(Path::new("/home/u/.config/zerotrace/agent.toml")),
            PathBuf::from("/home/u/.config/zerotrace")
        );
    }
}
