//! `e2e stack up` as a child process, for the tests of the binary: start it, read what it
//! prints, stop it with a signal and wait (with a deadline) for it to exit.

#![allow(dead_code)] // each test file uses some of it

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `e2e stack up`.
pub struct StackUp {
    child: Child,
    /// Every line it printed up to `stack is up`.
    pub printed: Vec<String>,
}

impl StackUp {
    /// Starts `e2e stack up` with extra environment variables and waits (up to 2 minutes; the
    /// machine may be busy compiling) until it says it is up.
    pub fn start(env: &[(&str, OsString)]) -> StackUp {
        let mut command = Command::new(env!("CARGO_BIN_EXE_e2e"));
        command.args(["stack", "up"]).stdout(Stdio::piped()).stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the e2e binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        // Reads to the end, even when nobody listens any more: the child must never find its
        // stdout closed (a print would fail) while it stops.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let mut stack = StackUp { child, printed: Vec::new() };
        loop {
            let line = received
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("`stack is up` within two minutes; printed so far: {:?}", stack.printed));
            let up = line.starts_with("stack is up");
            stack.printed.push(line);
            if up {
                return stack;
            }
        }
    }

    /// The value printed after `label` (the rest of its line, trimmed).
    pub fn field(&self, label: &str) -> String {
        self.printed
            .iter()
            .find_map(|line| line.strip_prefix(label))
            .map(|rest| rest.trim().to_string())
            .unwrap_or_else(|| panic!("no `{label}` line in {:?}", self.printed))
    }

    pub fn service_url(&self) -> String {
        self.field("billing service")
    }

    /// The demo customer's API key.
    pub fn demo_key(&self) -> String {
        let demo = self.field("demo customer");
        demo.split("API key: ").nth(1).and_then(|key| key.strip_suffix(')')).expect("an API key").to_string()
    }

    /// The `… e2e run --target …` line it prints for validating it as a deployment: the
    /// environment variables it sets and the arguments after `e2e`.
    pub fn validation_command(&self) -> (Vec<(String, String)>, Vec<String>) {
        let line = self
            .printed
            .iter()
            .find(|line| line.contains(" e2e run --target "))
            .unwrap_or_else(|| panic!("no `e2e run --target` line in {:?}", self.printed));
        let mut words = line.split_whitespace();
        let mut env = Vec::new();
        for word in words.by_ref() {
            if word == "e2e" {
                break;
            }
            let (name, value) = word.split_once('=').unwrap_or_else(|| panic!("not NAME=value: {word} in {line}"));
            env.push((name.to_string(), value.to_string()));
        }
        (env, words.map(str::to_string).collect())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`INT`, `TERM`) to the process.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success(), "kill -{name}");
    }

    /// Waits for the process to exit, polling until `deadline`; `None` if it is still running.
    pub fn wait_for_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if started.elapsed() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for StackUp {
    fn drop(&mut self) {
        // A test that failed half-way: stop it as a person would, then for good.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            if self.wait_for_exit(Duration::from_secs(20)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// The environment of an `e2e run` child: this process's, without anything that would choose
/// a target, Stripe or a Pushgateway behind the test's back.
pub fn clean_run_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_e2e"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("E2E_") || name.starts_with("STRIPE_") || name.starts_with("PUSHGATEWAY") {
            command.env_remove(&*name);
        }
    }
    command
}
