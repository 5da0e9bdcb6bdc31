// Number formatting for human messages, without Foundation.

/// `value` rounded to `decimals` places: formatted(3.14159, decimals: 2) == "3.14".
public func formatted(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return String(value) }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 1e15 else { return String(value) }
    let units = UInt64(scaled)
    let whole = units / UInt64(scale)
    let sign = value < 0 && units != 0 ? "-" : ""
    guard decimals > 0 else { return sign + String(whole) }
    let fraction = String(units % UInt64(scale))
    return sign + String(whole) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
}

/// Nanoseconds as milliseconds with one decimal: 17_625_000 → "17.6".
func formatMilliseconds(_ nanoseconds: UInt64) -> String {
    formatted(Double(nanoseconds) / 1_000_000, decimals: 1)
}
