import PackGuardYAML
import Testing

/// The root, or the error, of `text`.
func compose(_ text: String) -> Result<YAMLNode?, YAMLError> {
    do throws(YAMLError) {
        return .success(try YAMLDocument.compose(text))
    } catch {
        return .failure(error)
    }
}

/// The error `text` is rejected with (nil when it is accepted).
func rejection(_ text: String) -> YAMLError? {
    if case .failure(let error) = compose(text) { return error }
    return nil
}

/// The root of `text`, recording an issue when it is rejected.
func accepted(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> YAMLNode? {
    switch compose(text) {
    case .success(let node): return node
    case .failure(let error):
        Issue.record("rejected: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
