//! `aurora-admin auth hash-password` at a terminal: run under `script` (util-linux), which
//! gives it a pseudo-terminal, it asks for the password twice without echoing it and prints
//! the hash; two different answers hash nothing.

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// What the terminal showed, and the exit code, after answering each prompt in turn.
fn hash_at_a_terminal(answers: [&str; 2]) -> (Option<i32>, String) {
    let admin = env!("CARGO_BIN_EXE_aurora-admin");
    let mut child = Command::new("script")
        .args(["--quiet", "--return", "--command"])
        .arg(format!("'{admin}' auth hash-password"))
        .arg("/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script (util-linux) runs");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = child.stdout.take().expect("stdout");
    let (chunks, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(n @ 1..) = output.read(&mut buffer) {
            if chunks.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut shown = String::new();
    for (prompt, answer) in [("password: ", answers[0]), ("the same again: ", answers[1])] {
        while !shown.contains(prompt) {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(chunk) => shown.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => {
                    stop(&mut child);
                    panic!("no {prompt:?} prompt within {WAIT:?}; the terminal showed {shown:?}");
                }
            }
        }
        // The prompt is printed just before echo is turned off: let that happen first.
        std::thread::sleep(Duration::from_millis(300));
        input
            .write_all(format!("{answer}\n").as_bytes())
            .expect("type the answer");
    }
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > deadline {
            stop(&mut child);
            panic!("hash-password did not end within {WAIT:?}; the terminal showed {shown:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(input);
    let _ = reader.join();
    shown.extend(
        received
            .try_iter()
            .map(|c| String::from_utf8_lossy(&c).into_owned()),
    );
    (code, shown)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn at_a_terminal_the_password_is_asked_twice_and_never_shown() {
    let (code, shown) = hash_at_a_terminal(["correct-horse", "correct-horse"]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("password = \"$argon2id$"), "{shown}");
    assert!(
        !shown.contains("correct-horse"),
        "the password was echoed: {shown}"
    );

    let (code, shown) = hash_at_a_terminal(["correct-horse", "battery-staple"]);
    assert_ne!(code, Some(0), "{shown}");
    assert!(shown.contains("the two passwords differ"), "{shown}");
    assert!(!shown.contains("$argon2id$"), "{shown}");
}
