//! SIGTERM fires the shutdown signal instead of killing the process (its own test binary: the handler is process-wide).

#[cfg(unix)]
#[tokio::test]
async fn sigterm_triggers_the_shutdown_signal() {
    use std::time::Duration;
    let mut shutdown = carebus::Shutdown::on_signals();
    // Let the signal task register its handler before the signal is sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!shutdown.is_triggered());
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::time::timeout(Duration::from_secs(5), shutdown.wait())
        .await
        .expect("SIGTERM fired the shutdown signal");
    assert!(shutdown.is_triggered());
}
