// Package useragent parses HTTP User-Agent strings into the device data
// points of Vigil's rules (device.browser, device.os, device.type,
// device.isBot) and into the parsedUserAgent object Authsignal reports on
// passkey authenticators.
//
// Parsing is done by github.com/mileusna/useragent (a token scanner, about
// 2 µs a string and no start-up cost) with a thin layer on top that this
// package owns: bot detection for HTTP libraries and headless browsers, the
// Android tablet rule, device vendors, rendering engine and CPU
// architecture. The alternative, the regex-based uap-go (uap-core), took
// about 0.9 ms per uncached string in our measurement, which an attacker
// sending unique User-Agent headers could turn into a CPU drain.
//
// The invariants callers rely on:
//
//   - Input is bounded: a User-Agent longer than [MaxLength] bytes is cut to
//     its first MaxLength bytes before parsing and caching, and
//     [Agent.UA] holds the cut string.
//   - [Parser.Parse] never panics (FuzzParse checks this) and is safe for
//     concurrent use.
//   - The cache is bounded by entry count; each entry holds at most
//     MaxLength bytes of key plus one [Agent], so memory is at most about
//     cacheSize × 5 KiB.
//
// # Bots
//
// [Agent.IsBot] is true, and DeviceType "bot", for:
//
//   - an empty (or all-space) User-Agent: every browser sends one;
//   - crawlers the underlying parser knows (Googlebot, Bingbot, Applebot,
//     YandexBot, Twitterbot, facebookexternalhit...) and any product whose
//     name contains "bot" or whose comment carries a URL, its rule for
//     self-identifying crawlers;
//   - HTTP libraries and command-line clients: curl, Wget,
//     python-requests, python-urllib, aiohttp, httpx, Go-http-client,
//     Java's HttpClient and Apache HttpClient, libwww-perl, Scrapy, axios,
//     node-fetch, undici, HTTPie, PostmanRuntime;
//   - headless and automation browsers: HeadlessChrome, PhantomJS and
//     SlimerJS.
//
// okhttp, Dart (dart:io) and CFNetwork are deliberately not bots: they are
// the default HTTP stacks of Android, Flutter and iOS apps, and a native app
// calling Vigil's Client API through them is a real user. Rules that want to
// treat them differently can test device.browser.
package useragent
