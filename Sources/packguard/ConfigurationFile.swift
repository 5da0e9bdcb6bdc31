import Glibc
import PackGuardConfig

/// Reads and validates a configuration file (errors name the file, line and key, or errno).
func loadConfiguration(_ path: String) throws(ConfigurationError) -> PackGuardConfiguration {
    try ConfigurationLoader.load(path: path)
}

func readTextFile(_ path: String) throws(FileReadError) -> String {
    try TextFile.read(path)
}

func printError(_ text: String) {
    var stderrStream = StandardError()
    print(text, to: &stderrStream)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        let bytes = Array(string.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }  // nowhere left to report a failed report
            offset += written
        }
    }
}

func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }
