// Package browser holds the real-browser tests of Vigil's Client API: the
// official @authsignal/browser SDK from npm, unchanged, runs in Debian's
// headless Chromium (driven over the DevTools protocol with chromedp) on a
// test page whose origin differs from Vigil's, so every SDK call is a real
// cross-origin CORS request to a vigil binary built from this module.
//
// The tests skip when Chromium or test/browser/node_modules (`npm ci`) is
// missing, and fail instead when VIGIL_TEST_REQUIRE_ALL=1. Set
// VIGIL_TEST_CHROMIUM to use another Chromium binary.
package browser
