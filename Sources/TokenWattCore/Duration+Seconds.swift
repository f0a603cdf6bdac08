extension Duration {
    /// The duration in seconds, as a floating-point number (for metrics and logs).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
