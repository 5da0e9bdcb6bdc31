/// JUnit XML for CI dashboards: one test case per scenario, its failed steps as the failure text.
public enum JUnitReport {
    public static func xml(_ outcomes: [ScenarioOutcome], suite: String = "packguard-bench") -> String {
        let failures = outcomes.filter { !$0.passed }.count
        let seconds = Double(outcomes.map(\.wallMs).reduce(0, +)) / 1000
        var xml = #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n"
        xml += #"<testsuite name="\#(escape(suite))" tests="\#(outcomes.count)" failures="\#(failures)" errors="0" time="\#(seconds)">"# + "\n"
        for outcome in outcomes {
            let time = Double(outcome.wallMs) / 1000
            xml += #"  <testcase classname="\#(escape(suite))" name="\#(escape(outcome.scenario.name))" file="\#(escape(outcome.scenario.source))" time="\#(time)">"# + "\n"
            if let setup = outcome.setupError {
                xml += #"    <failure message="setup failed">\#(escape(setup))</failure>"# + "\n"
            } else if !outcome.passed {
                let text = outcome.steps.filter { !$0.passed }
                    .map { "line \($0.line): \($0.description): \($0.detail)" }.joined(separator: "\n")
                xml += #"    <failure message="\#(escape(outcome.steps.first { !$0.passed }?.description ?? "failed"))">\#(escape(text))</failure>"# + "\n"
            }
            let log = outcome.steps.map { "\($0.passed ? "ok" : "FAIL") line \($0.line): \($0.description) \($0.detail)" }
                .joined(separator: "\n")
            xml += "    <system-out>\(escape(log))</system-out>\n"
            xml += "  </testcase>\n"
        }
        xml += "</testsuite>\n"
        return xml
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.append(character)
            }
        }
        return out
    }
}
