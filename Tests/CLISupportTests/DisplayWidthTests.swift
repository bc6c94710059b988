/// Display width (the columns a terminal gives text) and the run-selector rewriting of `-N`.
import CLISupport
import TerminalText
import XCTest

final class DisplayWidthTests: XCTestCase {
    func testWidthPerScalar() {
        XCTAssertEqual(DisplayWidth.of("baseline"), 8)
        XCTAssertEqual(DisplayWidth.of("基线"), 4, "CJK ideographs are wide")
        XCTAssertEqual(DisplayWidth.of("ｆｕｌｌ"), 8, "fullwidth forms")
        XCTAssertEqual(DisplayWidth.of("한국어"), 6, "Hangul syllables")
        XCTAssertEqual(DisplayWidth.of("カタカナ"), 8)
        XCTAssertEqual(DisplayWidth.of("e\u{301}"), 1, "a combining acute accent takes no column")
        XCTAssertEqual(DisplayWidth.of("é"), 1)
        XCTAssertEqual(DisplayWidth.of("👍"), 2, "emoji presentation")
        XCTAssertEqual(DisplayWidth.of("a\u{200B}b"), 2, "zero-width space")
        XCTAssertEqual(DisplayWidth.of("★ ↑ ↓ — …"), 9, "ambiguous-width symbols count 1, as on Western terminals")
        XCTAssertEqual(DisplayWidth.of("\u{1B}[1mbold\u{1B}[0m"), 4, "ANSI styling takes no columns")
    }

    func testTruncateAndPad() {
        XCTAssertEqual(DisplayWidth.truncate("baseline", to: 8), "baseline")
        XCTAssertEqual(DisplayWidth.truncate("baseline", to: 5), "base…")
        XCTAssertEqual(DisplayWidth.truncate("基线实验", to: 5), "基线…", "never half a wide character")
        XCTAssertEqual(DisplayWidth.of(DisplayWidth.truncate("基线实验", to: 6)), 5)
        XCTAssertEqual(DisplayWidth.pad("基线", to: 6), "基线  ")
        XCTAssertEqual(DisplayWidth.pad("基线", to: 6, right: true), "  基线")
    }

    func testWrap() {
        let lines = DisplayWidth.wrap("one two three four five six", width: 10, indent: "  ")
        XCTAssertEqual(lines, ["one two", "  three", "  four", "  five six"])
        let long = DisplayWidth.wrap(String(repeating: "x", count: 25), width: 10)
        XCTAssertEqual(long, ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx"], "a word longer than a line is broken, not cut")
        XCTAssertEqual(DisplayWidth.wrap("  key    a long value here", width: 16, indent: "         "),
                       ["  key    a long", "         value", "         here"], "leading and inner spaces kept on the first line")
        let cjk = DisplayWidth.wrap("基线基线基线", width: 5)
        XCTAssertEqual(cjk, ["基线", "基线", "基线"], "never half a wide character")
        XCTAssertEqual(DisplayWidth.wrap("", width: 10), [""])
    }

    func testRelativeSelectorsAreProtectedAndRestored() {
        XCTAssertEqual(RunSelector.protectingRelativeSelectors(["show", "-2", "--lr", "-0.5", "-h"]), ["show", "~2", "--lr", "-0.5", "-h"])
        XCTAssertEqual(RunSelector.unprotect("~2"), "-2")
        XCTAssertEqual(RunSelector.unprotect("~x"), "~x")
        XCTAssertEqual(RunSelector.unprotectingMessage("The value '~1' is invalid"), "The value '-1' is invalid")
        XCTAssertEqual(try RunSelector.parse("~3"), .fromEnd(3))
        XCTAssertEqual(try RunSelector.parse("last"), .fromEnd(1))
        XCTAssertEqual(try RunSelector.parse("3..7"), .range(3...7))
        XCTAssertEqual(try RunSelector.parse("基线"), .label("基线"))
    }
}
