extension Int64 {
    /// The remainder in 0..<divisor, also for negative values: where a timestamp falls in its
    /// minute, hour or window.
    public func modulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }

    /// The quotient rounded toward negative infinity (a positive divisor): which day, minute or
    /// window a timestamp falls in, also before 1970.
    public func floorDivided(by divisor: Int64) -> Int64 {
        (self - modulo(divisor)) / divisor
    }
}
