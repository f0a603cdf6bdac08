extension Int64 {
    /// The remainder in 0..<divisor, also for negative values: where a timestamp falls in its
    /// minute, hour or window.
    public func modulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
