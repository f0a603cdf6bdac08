/// How much a counter counted between two readings, the one rule for counter increases in
/// rollups and queries: a value that went down means a reset, after which the counter counted
/// its new value from zero. Negative values (which no counter has) count as zero, so a hostile
/// or broken sender cannot make a total fall.
public enum CounterStep {
    public static func increase(from before: Double, to value: Double) -> Double {
        let before = max(0, before), value = max(0, value)
        return value >= before ? value - before : value
    }
}
