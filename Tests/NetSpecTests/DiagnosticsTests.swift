@testable import NetSpec
import XCTest

/// One test per class of description error: the exact `file:line:column` and the words that say
/// what is wrong. Descriptions are tiny (8×8×3 input) and `header` is lines 1–5.
final class DiagnosticsTests: XCTestCase {
    func testValidBaseDescriptionLoads() throws {
        let network = try NetSpecLoader.load(text: header + "\nconv2d c1 filters=4 kernel=3\n" + head, file: "t.arch")
        XCTAssertEqual(network.layers.map(\.name), ["input_layer", "c1", "flatten", "out"])
        XCTAssertEqual(network.layers.map(\.shape), [[8, 8, 3], [6, 6, 4], [144], [2]])
        XCTAssertEqual(network.file, "t.arch")
    }

    // MARK: layers and fields

    func testUnknownLayerType() {
        assertError(header + "\nconv3d c1 filters=4 kernel=3\n" + head, line: 6, column: 1,
                    mentions: ["unknown layer type", "'conv3d'", "conv2d"])
    }

    func testTemplateUsedAsLayerTypeSuggestsUse() {
        let text = header + """

        template blk(stage)
          relu r{stage}
        end
        blk stage=1
        """ + "\n" + head
        assertError(text, line: 9, column: 1, mentions: ["unknown layer type", "'blk'", "use blk"])
    }

    func testUnknownField() {
        assertError(header + "\nconv2d c1 filters=4 kernel=3 strides=2\n" + head, line: 6, column: 30,
                    mentions: ["unknown field", "'strides'", "conv2d", "stride"])
    }

    func testMissingRequiredField() {
        assertError(header + "\nconv2d c1 kernel=3\n" + head, line: 6, column: 1,
                    mentions: ["conv2d", "needs", "'filters='"])
        assertError(header + "\nconv2d c1 filters=4\n" + head, line: 6, column: 1,
                    mentions: ["conv2d", "needs", "'kernel='"])
        assertError(header + "\nmaxpool\n" + head, line: 6, column: 1, mentions: ["maxpool", "needs", "'pool='"])
        assertError(header + "\nflatten\ndense out activation=softmax\n", line: 7, column: 1,
                    mentions: ["dense", "needs", "'units='"])
    }

    func testFieldGivenTwice() {
        assertError(header + "\nconv2d c1 filters=4 kernel=3 filters=5\n" + head, line: 6, column: 30,
                    mentions: ["'filters'", "twice"])
    }

    func testBadChoiceValue() {
        assertError(header + "\nconv2d c1 filters=4 kernel=3 padding=full\n" + head, line: 6, column: 38,
                    mentions: ["'padding'", "valid, same", "'full'"])
    }

    // MARK: shapes

    func testShapeMismatchAtAdd() {
        let text = header + """

        conv2d a filters=4 kernel=3
        conv2d b filters=5 kernel=3 from=input_layer
        add from=a,b
        """ + "\n" + head
        assertError(text, line: 8, column: 1,
                    mentions: ["add 'add'", "one shape", "'a' is 6×6×4", "'b' is 6×6×5"])
    }

    func testIdentityBlockWhoseLastFilterCountDiffersFromItsInputChannels() {
        let text = header + """

        template identity_block(stage, filters)
          conv2d    res{stage}_a filters=filters[0] kernel=1
          batchnorm bn{stage}_a
          relu
          conv2d    res{stage}_b filters=filters[1] kernel=3 padding=same
          batchnorm bn{stage}_b
          add       from=bn{stage}_b,$input
          relu
        end
        conv2d stem filters=4 kernel=3 padding=same
        use identity_block stage=2 filters=2,4
        use identity_block stage=3 filters=2,5
        """ + "\n" + head
        // Located at the offending `use` line (17), with a note at the add inside the template (12).
        let error = assertError(text, line: 17, column: 1,
                                mentions: ["identity_block", "last filter count", "filters[1] = 5",
                                           "input channels (4)", "shortcut"])
        XCTAssertEqual(error?.note?.0, SourceLocation(file: "t.arch", line: 12, column: 3))
        XCTAssertEqual(error?.description.split(separator: "\n").count, 2)
        XCTAssertTrue(error?.description.hasPrefix("t.arch:17:1: error: identity_block 'add_1': ") ?? false,
                      error?.description ?? "")
        XCTAssertTrue(error?.description.hasSuffix("\nt.arch:12:3: note: the add that needs equal shapes") ?? false,
                      error?.description ?? "")
        // With the last filter count fixed the same text loads.
        XCTAssertNoThrow(try NetSpecLoader.load(text: text.replacingOccurrences(of: "filters=2,5", with: "filters=2,4"),
                                                file: "t.arch"))
    }

    func testKernelLargerThanInput() {
        assertError(header + "\nconv2d c1 filters=4 kernel=9\n" + head, line: 6, column: 1,
                    mentions: ["conv2d 'c1'", "9×9 kernel", "'input_layer'", "only 8×8"])
        assertError(header + "\nconv2d c1 filters=4 kernel=3,9\n" + head, line: 6, column: 1,
                    mentions: ["3×9 kernel", "only 8×8"])
        // 'same' padding makes any kernel fit.
        XCTAssertNoThrow(try NetSpecLoader.load(text: header + "\nconv2d c1 filters=4 kernel=9 padding=same\n" + head,
                                                file: "t.arch"))
    }

    func testPoolWindowLargerThanInput() {
        assertError(header + "\nmaxpool pool=9\n" + head, line: 6, column: 1,
                    mentions: ["maxpool 'max_pooling2d'", "9×9 window", "only 8×8"])
    }

    func testStrideZero() {
        assertError(header + "\nconv2d c1 filters=4 kernel=3 stride=0\n" + head, line: 6, column: 37,
                    mentions: ["'stride'", "at least 1", "found 0"])
        assertError(header + "\nmaxpool pool=2 stride=2,0\n" + head, line: 6, column: 25,
                    mentions: ["'stride'", "at least 1", "found 0"])
    }

    func testZeroAndNegativeSizes() {
        assertError(header + "\nconv2d c1 filters=0 kernel=3\n" + head, line: 6, column: 19,
                    mentions: ["'filters'", "at least 1", "found 0"])
        assertError(header + "\nconv2d c1 filters=4 kernel=0\n" + head, line: 6, column: 28,
                    mentions: ["'kernel'", "at least 1", "found 0"])
        assertError(header + "\nzeropad padding=-1\nconv2d c1 filters=4 kernel=3\n" + head, line: 6, column: 17,
                    mentions: ["'padding'", "must not be negative", "found -1"])
        assertError(header.replacingOccurrences(of: "input 8 8 3", with: "input 8 0 3") + "\nconv2d c1 filters=4 kernel=3\n" + head,
                    line: 2, column: 9, mentions: ["'input'", "positive", "found 0"])
        assertError(header.replacingOccurrences(of: "classes 2", with: "classes 0") + "\nconv2d c1 filters=4 kernel=3\n" + head,
                    line: 3, column: 9, mentions: ["'classes'", "positive", "found 0"])
        assertError(header.replacingOccurrences(of: "capacity 2", with: "capacity -3") + "\nconv2d c1 filters=4 kernel=3\n" + head,
                    line: 4, column: 10, mentions: ["'capacity'", "positive", "found -3"])
        assertError(header + "\nflatten\ndense out units=0 activation=softmax\n", line: 7, column: 17,
                    mentions: ["'units'", "at least 1", "found 0"])
    }

    func testNonNumericSize() {
        assertError(header.replacingOccurrences(of: "input 8 8 3", with: "input 8 x 3") + "\nconv2d c1 filters=4 kernel=3\n" + head,
                    line: 2, column: 9, mentions: ["'x'", "whole number", "height width channels"])
        assertError(header + "\nconv2d c1 filters=many kernel=3\n" + head, line: 6, column: 19,
                    mentions: ["'filters'", "whole number", "'many'"])
    }

    func testClassifierMustMatchClasses() {
        assertError(header + "\nflatten\ndense out units=3 activation=softmax\n", line: 7, column: 1,
                    mentions: ["'out'", "3 units", "2 classes", "units=classes"])
        assertError(header + "\nflatten\ndense out units=classes\n", line: 7, column: 1,
                    mentions: ["last layer", "activation=softmax"])
        assertError(header + "\nconv2d c1 filters=4 kernel=3\ndense out units=classes activation=softmax\n", line: 7, column: 1,
                    mentions: ["dense 'out'", "flat input", "6×6×4", "flatten"])
    }

    func testDanglingLayer() {
        let text = header + """

        conv2d a filters=4 kernel=3
        conv2d b filters=4 kernel=3 from=input_layer
        """ + "\n" + head
        assertError(text, line: 6, column: 1, mentions: ["'a'", "never used"])
    }

    // MARK: templates

    func testUnknownTemplate() {
        let text = header + """

        template identity_block(stage)
          relu r{stage}
        end
        use identity_blok stage=2
        """ + "\n" + head
        assertError(text, line: 9, column: 5, mentions: ["unknown template", "'identity_blok'", "identity_block"])
        assertError(header + "\nuse nothing\n" + head, line: 6, column: 5,
                    mentions: ["unknown template", "'nothing'", "none is defined"])
    }

    func testUnclosedTemplate() {
        let text = header + """

        conv2d c1 filters=4 kernel=3
        template blk(stage)
          relu r{stage}
        """ + "\n" + head
        assertError(text, line: 7, column: 1, mentions: ["template 'blk'", "never closed", "'end'"])
    }

    func testMissingTemplateArgument() {
        let text = header + """

        template blk(stage, filters)
          conv2d c{stage} filters=filters kernel=1
        end
        use blk stage=1
        """ + "\n" + head
        assertError(text, line: 9, column: 5, mentions: ["'blk'", "missing", "'filters='"])
    }

    func testUnknownTemplateArgument() {
        let text = header + """

        template blk(stage, filters)
          conv2d c{stage} filters=filters kernel=1
        end
        use blk stage=1 filters=4 size=3
        """ + "\n" + head
        assertError(text, line: 9, column: 27, mentions: ["template 'blk'", "no parameter 'size'", "stage, filters"])
    }

    func testErrorInsideTemplateBodyPointsAtTheBodyWithANoteAtTheUse() {
        let text = header + """

        template blk(stage)
          conv2d c{stage} filters=4 kernel=1 dilation=2
        end
        conv2d stem filters=4 kernel=1
        use blk stage=1
        """ + "\n" + head
        let error = assertError(text, line: 7, column: 38, mentions: ["unknown field", "'dilation'", "conv2d"])
        XCTAssertEqual(error?.note?.0, SourceLocation(file: "t.arch", line: 10, column: 1))
        XCTAssertEqual(error?.note?.1, "in this use of template 'blk'")
    }

    func testUnknownParameterInName() {
        let text = header + """

        template blk(stage)
          conv2d c{stag} filters=4 kernel=1
        end
        use blk stage=1
        """ + "\n" + head
        assertError(text, line: 7, column: 10, mentions: ["unknown parameter", "'{stag}'", "stage"])
    }

    func testTemplateListIndexOutOfRange() {
        let text = header + """

        template blk(stage, filters)
          conv2d c{stage} filters=filters[2] kernel=1
        end
        use blk stage=1 filters=4,4
        """ + "\n" + head
        assertError(text, line: 7, column: 27, mentions: ["index '2'", "out of range", "'filters'"])
    }

    func testRecursiveTemplate() {
        let text = header + """

        template loop(stage)
          relu
          use loop stage=stage
        end
        conv2d c1 filters=4 kernel=1
        use loop stage=1
        """ + "\n" + head
        let error = assertError(text, line: 8, column: 3, mentions: ["'loop'", "instantiates itself", "cannot recurse"])
        XCTAssertEqual(error?.note?.0.line, 11)
    }

    // MARK: names and graph

    func testNameClash() {
        assertError(header + "\nconv2d c1 filters=4 kernel=3\nconv2d c1 filters=4 kernel=3\n" + head, line: 7, column: 8,
                    mentions: ["layer name 'c1'", "already used", "line 6", "unique"])
        assertError(header + "\nconv2d input_layer filters=4 kernel=3\n" + head, line: 6, column: 8,
                    mentions: ["'input_layer'", "reserved for the model input"])
        // An explicit name that an automatic name later collides with: reported at the auto-named layer.
        assertError(header + "\nconv2d activation filters=4 kernel=3\nrelu\n" + head, line: 7, column: 1,
                    mentions: ["layer name 'activation'", "already used", "line 6"])
    }

    func testNameClashAcrossTemplateInstances() {
        let text = header + """

        template blk(stage)
          conv2d c{stage} filters=3 kernel=1
        end
        use blk stage=1
        use blk stage=1
        """ + "\n" + head
        let error = assertError(text, line: 7, column: 10, mentions: ["layer name 'c1'", "already used", "line 7"])
        XCTAssertEqual(error?.note?.0.line, 10)
    }

    func testCycleThroughALaterLayer() {
        let text = header + """

        conv2d a filters=4 kernel=3 padding=same from=b
        conv2d b filters=4 kernel=3 padding=same
        """ + "\n" + head
        assertError(text, line: 6, column: 8, mentions: ["cycle", "a → b → a", "depends on it"])
    }

    func testSelfReference() {
        assertError(header + "\nconv2d a filters=4 kernel=3 padding=same from=a\n" + head, line: 6, column: 8,
                    mentions: ["cycle", "a → a", "from itself"])
    }

    func testLongerCycle() {
        let text = header + """

        relu a from=c
        relu b
        relu c
        """ + "\n" + head
        assertError(text, line: 6, column: 6, mentions: ["cycle", "a → c → b → a"])
    }

    func testUnknownInputName() {
        assertError(header + "\nconv2d a filters=4 kernel=3 from=nowhere\n" + head, line: 6, column: 34,
                    mentions: ["'from='", "'nowhere'", "not a layer"])
    }

    func testAddNeedsTwoInputs() {
        assertError(header + "\nconv2d a filters=4 kernel=3\nadd from=a\n" + head, line: 7, column: 1,
                    mentions: ["add", "exactly two inputs", "found 1"])
    }

    // MARK: header

    func testMissingHeaderField() {
        for key in ["model", "input", "classes", "capacity", "dtype"] {
            let text = header.split(separator: "\n").filter { !$0.hasPrefix(key + " ") }.joined(separator: "\n")
                + "\nconv2d c1 filters=4 kernel=3\n" + head
            assertError(text, line: 1, column: 1, mentions: ["no '\(key)' line", "header"])
        }
    }

    func testHeaderFieldProblems() {
        assertError(header.replacingOccurrences(of: "input 8 8 3", with: "input 8 8") + "\nconv2d c1 filters=4 kernel=3\n" + head,
                    line: 2, column: 1, mentions: ["'input'", "takes 3 values", "found 2"])
        assertError(header.replacingOccurrences(of: "dtype float64", with: "dtype float16") + "\nconv2d c1 filters=4 kernel=3\n" + head,
                    line: 5, column: 7, mentions: ["unknown dtype", "'float16'", "float32"])
        assertError(header + "\ninput 4 4 3\nconv2d c1 filters=4 kernel=3\n" + head, line: 6, column: 1,
                    mentions: ["'input'", "already given", "line 2"])
        assertError(header + "\n", line: 1, column: 1, mentions: ["no layers"])
    }

    func testSyntaxErrors() {
        assertError(header + "\n= conv2d\n" + head, line: 6, column: 1, mentions: ["must start with", "'='"])
        assertError(header + "\nconv2d c1 filters=4 kernel=3 stride\n" + head, line: 6, column: 30,
                    mentions: ["expected 'key=value'", "'stride'"])
        assertError(header + "\nconv2d c1 filters=4 kernel=\n" + head, line: 6, column: 27, mentions: ["'kernel='", "needs a value"])
        assertError(header + "\nend\n" + head, line: 6, column: 1, mentions: ["'end'", "without an open 'template'"])
        assertError(header + "\ntemplate blk(a b)\n  relu\nend\n" + head, line: 6, column: 16,
                    mentions: ["expected ',' or ')'", "'b'"])
    }

    // MARK: rendering

    func testDescriptionFormatting() throws {
        let plain = NetSpecError(SourceLocation(file: "Sources/Models/x.arch", line: 12, column: 7), "unknown field 'x' for relu.")
        XCTAssertEqual(plain.description, "Sources/Models/x.arch:12:7: error: unknown field 'x' for relu.")
        XCTAssertEqual("\(plain)", plain.description)
        XCTAssertNil(plain.note)

        let noted = NetSpecError(SourceLocation(file: "m.arch", line: 3, column: 5), "bad.",
                                 note: (SourceLocation(file: "m.arch", line: 20, column: 1), "in this use of template 'blk'"))
        XCTAssertEqual(noted.description, "m.arch:3:5: error: bad.\nm.arch:20:1: note: in this use of template 'blk'")
        // Equality ignores the note (location and message decide).
        XCTAssertEqual(noted, NetSpecError(SourceLocation(file: "m.arch", line: 3, column: 5), "bad."))

        // A template error as the loader reports it, end to end.
        let text = header + """

        template blk(stage)
          conv2d c{stage} filters=4 kernel=1 dilation=2
        end
        conv2d stem filters=4 kernel=1
        use blk stage=1
        """ + "\n" + head
        do {
            _ = try NetSpecLoader.load(text: text, file: "dir/m.arch")
            XCTFail("expected an error")
        } catch let error as NetSpecError {
            let lines = error.description.split(separator: "\n", omittingEmptySubsequences: false)
            XCTAssertEqual(lines.count, 2, error.description)
            XCTAssertTrue(lines[0].hasPrefix("dir/m.arch:7:38: error: unknown field 'dilation' for conv2d"), String(lines[0]))
            XCTAssertEqual(lines.last.map(String.init), "dir/m.arch:10:1: note: in this use of template 'blk'")
        }
    }

    func testUnreadableFileIsADiagnosticToo() {
        do {
            _ = try NetSpecLoader.load(path: "/nonexistent/dir/model.arch")
            XCTFail("expected an error")
        } catch let error as NetSpecError {
            XCTAssertEqual(error.location, SourceLocation(file: "/nonexistent/dir/model.arch", line: 1, column: 1))
            XCTAssertTrue(error.message.contains("cannot read"), error.message)
        } catch {
            XCTFail("\(error)")
        }
    }

    func testCarriageReturnsAndTabsAreTolerated() throws {
        let text = (header + "\nconv2d\tc1 filters=4 kernel=3   # comment\n" + head).replacingOccurrences(of: "\n", with: "\r\n")
        let network = try NetSpecLoader.load(text: text, file: "t.arch")
        XCTAssertEqual(network.layers[1].name, "c1")
        XCTAssertEqual(network.layers[1].location, SourceLocation(file: "t.arch", line: 6, column: 1))
    }
}
