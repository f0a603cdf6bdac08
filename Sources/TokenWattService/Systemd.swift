import CSystemd

/// Talks to systemd through libsystemd's `sd_notify`. Outside systemd (no `NOTIFY_SOCKET`)
/// every call is a no-op.
public enum Systemd {
    /// Sends newline-separated `KEY=VALUE` pairs; returns whether systemd received them.
    @discardableResult
    public static func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// `READY=1` plus a status line.
    public static func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }

    /// `STOPPING=1` plus a status line.
    public static func stopping(status: String) { notify("STOPPING=1\nSTATUS=\(status)") }
}
