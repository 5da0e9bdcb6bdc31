/// The scalar forms read as numbers, chosen so that Yams (`Node.int`, `Node.float`), YAML 1.1 and
/// YAML 1.2 all agree on each value; a form on which they disagree is no number here, and
/// `advice` says what to write instead.
enum YAMLNumber {
    /// `[+-]?(0|[1-9][0-9]*)` or `[+-]?0x[0-9a-fA-F]+`. Yams reads `+0` and `-0` as no integer (its
    /// octal rule leaves no digits), so they are none here either.
    static func integer(_ text: String) -> Int? {
        let (negative, signed, rest) = split(text)
        if rest.hasPrefix("0x") {
            let digits = rest.dropFirst(2)
            guard !digits.isEmpty, digits.unicodeScalars.allSatisfy(isHexDigit) else { return nil }
            return Int((negative ? "-" : "") + digits, radix: 16)
        }
        guard !rest.isEmpty, rest.unicodeScalars.allSatisfy(isDigit) else { return nil }
        if rest == "0" { return signed ? nil : 0 }
        guard rest.first != "0" else { return nil }
        return Int(text)
    }

    /// `[+-]?(digits(.digits?)?|.digits)([eE][+-]?digits)?`; a whole number (no `.`, no exponent) without
    /// a leading zero, which YAML 1.1 reads as octal.
    static func decimal(_ text: String) -> Double? {
        let (_, _, rest) = split(text)
        let scalars = Array(rest.unicodeScalars)
        var index = 0
        func digits() -> Int {
            let start = index
            while index < scalars.count, isDigit(scalars[index]) { index += 1 }
            return index - start
        }
        let whole = digits()
        var fraction = 0
        let hasPoint = index < scalars.count && scalars[index] == "."
        if hasPoint {
            index += 1
            fraction = digits()
        }
        guard whole > 0 || fraction > 0 else { return nil }
        if index == scalars.count, !hasPoint, whole > 1, scalars[0] == "0" { return nil }
        if index < scalars.count, scalars[index] == "e" || scalars[index] == "E" {
            index += 1
            if index < scalars.count, scalars[index] == "+" || scalars[index] == "-" { index += 1 }
            guard digits() > 0 else { return nil }
        }
        guard index == scalars.count else { return nil }
        return Double(text)
    }

    static func advice(_ text: String, style: YAMLScalarStyle) -> String? {
        guard style == .plain else {
            return integer(text) != nil || decimal(text) != nil
                ? "a quoted value is text, not a number: remove the quotes" : nil
        }
        if integer(text) != nil { return nil }
        if text == "+0" || text == "-0" { return "write 0 without a sign" }
        if decimal(text) != nil { return nil }
        let lower = text.lowercased()
        if [".inf", "+.inf", "-.inf", ".nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity", "nan"]
            .contains(lower) {
            return "not a finite number"
        }
        let (_, _, rest) = split(text)
        guard let first = rest.unicodeScalars.first, isDigit(first) || first == "." else { return nil }
        if rest.hasPrefix("0o") || rest.hasPrefix("0b") || rest.hasPrefix("0O") || rest.hasPrefix("0B") {
            return "YAML 1.1 and 1.2 read 0o and 0b numbers differently: write the value in decimal or as 0x hexadecimal"
        }
        if rest.hasPrefix("0X") {
            return "write hexadecimal with a lower-case 0x"
        }
        if rest.contains("_") {
            return "YAML 1.1 ignores '_' in a number and YAML 1.2 does not: write the number without '_'"
        }
        if rest.contains(":"), rest.unicodeScalars.allSatisfy({ isDigit($0) || $0 == ":" || $0 == "." }) {
            return "YAML 1.1 reads this as a base-60 number and YAML 1.2 as text: write the value in decimal"
        }
        if rest.count > 1, rest.first == "0", rest.unicodeScalars.allSatisfy(isDigit) {
            return "a leading zero makes a number octal in YAML 1.1 (010 is 8) and not in YAML 1.2 (010 is 10): write it without the leading zero"
        }
        return nil
    }

    static func booleanAdvice(_ text: String, style: YAMLScalarStyle) -> String? {
        guard style == .plain, text != "true", text != "false" else { return nil }
        guard ["yes", "no", "on", "off", "y", "n", "true", "false"].contains(text.lowercased()) else { return nil }
        return "YAML 1.1 reads '\(text)' as a boolean and YAML 1.2 as text: write true or false"
    }

    private static func split(_ text: String) -> (negative: Bool, signed: Bool, rest: Substring) {
        if text.hasPrefix("-") { return (true, true, text.dropFirst()) }
        if text.hasPrefix("+") { return (false, true, text.dropFirst()) }
        return (false, false, text[...])
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }

    private static func isHexDigit(_ scalar: Unicode.Scalar) -> Bool {
        isDigit(scalar) || ("a"..."f").contains(scalar) || ("A"..."F").contains(scalar)
    }
}
