import Foundation

/// A number in JSON decoded by JSONSerialization, told apart from `true` and `false`: those
/// come as NSNumbers too (of type "c"), and on Linux `is Bool` holds for 0 and 1 as well.
public enum JSONNumber {
    /// The number, or nil when the value is no number (a boolean, a string, absent).
    public static func value(_ raw: Any?) -> Double? {
        guard let boxed = raw as? NSNumber, String(cString: boxed.objCType) != "c" else { return nil }
        return boxed.doubleValue
    }
}
