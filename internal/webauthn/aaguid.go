package webauthn

import "encoding/hex"

// AAGUIDName returns the product name of the authenticator model an AAGUID
// identifies (WebAuthn §6.5.1), for Authsignal's aaguidMapping.name. It
// knows the common passkey providers and security keys; ok is false for any
// other AAGUID, including the all-zero one clients send when they hide the
// model.
func AAGUIDName(aaguid []byte) (name string, ok bool) {
	var buf [36]byte
	if !formatAAGUID(&buf, aaguid) {
		return "", false
	}
	name, ok = aaguidNames[string(buf[:])]
	return name, ok
}

// FormatAAGUID returns aaguid in the canonical lowercase UUID form
// ("fbfc3007-154e-4ecc-8c0b-6e020557d7bd"), or "" when it is not 16 bytes.
func FormatAAGUID(aaguid []byte) string {
	var buf [36]byte
	if !formatAAGUID(&buf, aaguid) {
		return ""
	}
	return string(buf[:])
}

func formatAAGUID(buf *[36]byte, b []byte) bool {
	if len(b) != 16 {
		return false
	}
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:36], b[10:16])
	return true
}

// aaguidNames is a curated, read-only table. Passkey providers and their
// names come from the community-maintained list
// github.com/passkeydeveloper/passkey-authenticator-aaguids (aaguid.json,
// snapshot 2026-08-07; iCloud Keychain is listed there as "Apple
// Passwords"); security keys from the FIDO Metadata Service descriptions as
// Microsoft's FIDO2 vendor compatibility list reproduces them.
var aaguidNames = map[string]string{
	// Platform and browser passkey providers.
	"fbfc3007-154e-4ecc-8c0b-6e020557d7bd": "Apple Passwords",
	"dd4ec289-e01d-41c9-bb89-70fa845d4bf2": "iCloud Keychain (Managed)",
	"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": "Google Password Manager",
	"adce0002-35bc-c60a-648b-0b25f1f05503": "Chrome on Mac",
	"b5397666-4885-aa6b-cebf-e52262a439a2": "Chromium Browser",
	"771b48fd-d3d4-4f74-9232-fc157ab0507a": "Edge on Mac",
	"08987058-cadc-4b81-b6e1-30de50dcbe96": "Windows Hello",
	"9ddd1817-af5a-4672-a2b9-3e3dd95000a9": "Windows Hello",
	"6028b017-b1d4-4c02-b4b3-afcdafc96bb2": "Windows Hello",
	"d3452668-01fd-4c12-926c-83a4204853aa": "Microsoft Password Manager",
	"53414d53-554e-4700-0000-000000000000": "Samsung Pass",

	// Password managers.
	"bada5566-a7aa-401f-bd96-45619a55120d": "1Password",
	"d548826e-79b4-db40-a3d8-11116f7e8349": "Bitwarden",
	"531126d6-e717-415c-9320-3d9aa6981239": "Dashlane",
	"50726f74-6f6e-5061-7373-50726f746f6e": "Proton Pass",
	"fdb141b2-5d84-443e-8a35-4698c205a502": "KeePassXC",
	"eaecdef2-1c31-5634-8639-f1cbd9c00a08": "KeePassDX",
	"b84e4048-15dc-4dd0-8640-f4f60813c8af": "NordPass",
	"f3809540-7f14-49c1-a8b3-8f813b225541": "Enpass",
	"0ea242b4-43c4-4a1b-8b17-dd6d0b6baec6": "Keeper",
	"b78a0a55-6ef8-d246-a042-ba0f6d55050c": "LastPass",
	"b35a26b2-8f6e-4697-ab1d-d44db4da28c6": "Zoho Vault",
	"de503f9c-21a4-4f76-b4b7-558eb55c6f89": "Devolutions",
	"22248c4c-7a12-46e2-9a41-44291b373a4d": "LogMeOnce",
	"a10c6dd9-465e-4226-8198-c7c44b91c555": "Kaspersky Password Manager",
	"d9be9d39-e6a6-4c28-a581-32b044d986e4": "Sticky Password Manager",
	"fa37f553-f9b6-4adb-ac53-8bbb57ebdf0d": "Norton Password Manager",
	"a4a2d88e-9796-4356-9164-e2a5a8bd019c": "Avast Password Manager",
	"e7db2bd3-f2fe-4d71-ad78-7e7aa166cfd1": "Avira Password Manager",
	"6bb49926-160a-4306-a100-4eb39ba6ac45": "AVG Password Manager",
	"39a5647e-1853-446c-a1f6-a79bae9f5bc7": "IDmelon",

	// Thales passkey SDKs.
	"66a0ccb3-bd6a-191f-ee06-e375c50b9846": "Thales Bio iOS SDK",
	"8836336a-f590-0921-301d-46427531eee6": "Thales Bio Android SDK",
	"cd69adb5-3c7a-deb9-3177-6800ea6cb72a": "Thales PIN Android SDK",
	"17290f1e-c212-34d0-1423-365d729f09d9": "Thales PIN iOS SDK",

	// Yubico.
	"cb69481e-8ff7-4039-93ec-0a2729a154a8": "YubiKey 5 Series",
	"ee882879-721c-4913-9775-3dfcce97072a": "YubiKey 5 Series",
	"2fc0579f-8113-47ea-b116-bb5a8db9202a": "YubiKey 5 Series with NFC",
	"fa2b99dc-9e39-4257-8f92-4a30d23c4118": "YubiKey 5 Series with NFC",
	"c5ef55ff-ad9a-4b9f-b580-adebafe026d0": "YubiKey 5 Series with Lightning",
	"73bb0cd4-e502-49b8-9c6f-b59445bf720b": "YubiKey 5 FIPS Series",
	"c1f9a0bc-1dd2-404a-b27f-8e29047a43fd": "YubiKey 5 FIPS Series with NFC",
	"85203421-48f9-4355-9bc8-8a53846e5083": "YubiKey 5 FIPS Series with Lightning",
	"d8522d9f-575b-4866-88a9-ba99fa02f35b": "YubiKey Bio Series",
	"83c47309-aabb-4108-8470-8be838b573cb": "YubiKey Bio Series (Enterprise Profile)",
	"b92c3f9a-c014-4056-887f-140a2501163b": "Security Key by Yubico",
	"f8a011f3-8c0a-4d15-8006-17111f9edc7d": "Security Key by Yubico",
	"6d44ba9b-f6ec-2e49-b930-0c8fe920cb73": "Security Key by Yubico with NFC",
	"149a2021-8ef6-4133-96b8-81f8d5b7f1f5": "Security Key by Yubico with NFC",
	"a4e9fc6d-4cbe-4758-b8ba-37598bb5bbaa": "Security Key NFC by Yubico",
	"0bb43545-fd2c-4185-87dd-feb0b2916ace": "Security Key NFC by Yubico - Enterprise Edition",

	// Feitian.
	"12ded745-4bed-47d4-abaa-e713f51d6393": "Feitian AllinOne FIDO2 Authenticator",
	"77010bd7-212a-4fc9-b236-d2ca5e9d4084": "Feitian BioPass FIDO2 Authenticator",
	"b6ede29c-3772-412c-8a78-539c1f4c62d2": "Feitian BioPass FIDO2 Plus Authenticator",
	"833b721a-ff5f-4d00-bb2e-bdda3ec01e29": "Feitian ePass FIDO2 Authenticator",
	"ee041bce-25e5-4cdb-8f86-897fd6418464": "Feitian ePass FIDO2-NFC Authenticator",
	"3e22415d-7fdf-4ea4-8a0c-dd60c4249b9d": "Feitian iePass FIDO Authenticator",

	// Other security keys.
	"42b4fb4a-2866-43b2-9bf7-6c6669c2e5d3": "Google Titan Security Key v2",
	"8876631b-d4a0-427f-5773-0ec71c9e0279": "Solo Secp256R1 FIDO2 CTAP2 Authenticator",
	"8976631b-d4a0-427f-5773-0ec71c9e0279": "Solo Tap Secp256R1 FIDO2 CTAP2 Authenticator",
	"9876631b-d4a0-427f-5773-0ec71c9e0279": "Somu Secp256R1 FIDO2 CTAP2 Authenticator",
	"4d41190c-7beb-4a84-8018-adf265a6352d": "Thales IDPrime FIDO Bio",
	"b50d5e0a-7f81-4959-9b12-f45407407503": "IDPrime 3940 FIDO",
	"efb96b10-a9ee-4b6c-a4a9-d32125ccd4a4": "Safenet eToken FIDO",
	"ab32f0c6-2239-afbb-c470-d2ef4e254db7": "TOKEN2 FIDO2 Security Key",
	"eabb46cc-e241-80bf-ae9e-96fa6d2975cf": "TOKEN2 PIN Plus Security Key Series",
}
