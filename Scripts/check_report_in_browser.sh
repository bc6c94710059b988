#!/usr/bin/env bash
# Checks `resnet-runs report` in a real browser by hand: runs the same test as `swift test`
# (ReportTests/testReportInBrowser: Debian's chromium headless loads a report with curves, tables
# and an embedded PNG; the DOM and a 1200×1600 screenshot are checked), but fails instead of
# skipping when chromium is missing. The DOM dump and the screenshot are kept for a look by eye.
#
#   Scripts/check_report_in_browser.sh [DIR]   # keeps DIR/report.html, dom.html, report.png (default: report-check)
#
# Needs chromium (apt-get install -y chromium); python3 decodes the screenshot if present.
set -euo pipefail
cd "$(dirname "$0")/.."
# CHROMIUM=PATH checks with another chromium build.
if ! command -v "${CHROMIUM:-chromium}" >/dev/null; then
    echo "check_report_in_browser: ${CHROMIUM:-chromium} is not installed; apt-get install -y chromium" >&2
    exit 1
fi
keep="${1:-report-check}"
mkdir -p "$keep"
export RESNET_REPORT_BROWSER=require RESNET_REPORT_KEEP="$(cd "$keep" && pwd)"
swift build --build-tests
swift test --skip-build --filter ReportTests.testReportInBrowser
echo "check_report_in_browser: passed; DOM and screenshot in $RESNET_REPORT_KEEP"
