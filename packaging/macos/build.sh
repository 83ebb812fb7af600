#!/usr/bin/env bash
# Build, sign, notarize and package StageLens.app on macOS (arm64, Metal).
#
# Needs: Python 3.11+, Xcode command line tools. For signing and notarization set
#   APPLE_SIGN_IDENTITY   "Developer ID Application: Example Ltd (TEAMID)"
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD   (an app-specific password for notarytool)
# Without APPLE_SIGN_IDENTITY the app is ad-hoc signed (runs locally, not distributable).
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=$(python3 -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
ARCH=$(uname -m)

python3 -m venv build/release-venv
PY=build/release-venv/bin/python
# Metal is enabled for every Apple build; GGML_NATIVE=OFF keeps the binary portable across Apple chips
CMAKE_ARGS="-DGGML_METAL=on -DGGML_NATIVE=OFF" "$PY" -m pip wheel --no-cache-dir --no-deps -w build/wheels "llama-cpp-python==0.3.36"
"$PY" -m pip install build/wheels/llama_cpp_python-*.whl . "pyinstaller>=6.10"
"$PY" -m PyInstaller --noconfirm --clean --distpath build/pyinstaller/dist --workpath build/pyinstaller/work packaging/macos/stagelens.spec
APP="build/pyinstaller/dist/StageLens.app"

# smoke test before signing
QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/stagelens" --self-test

# sign inside-out with the hardened runtime: every Mach-O file, deepest first (Qt framework
# binaries and the Python library have no .dylib suffix, so go by magic number, not by name),
# then the app itself
IDENTITY="${APPLE_SIGN_IDENTITY:--}"
"$PY" packaging/macos/macho_files.py "$APP" |
  while IFS= read -r -d '' f; do
    codesign --force --timestamp --options runtime --sign "$IDENTITY" "$f"
  done
codesign --force --timestamp --options runtime --entitlements packaging/macos/entitlements.plist \
  --sign "$IDENTITY" "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"

mkdir -p dist
DMG="dist/StageLens-$VERSION-macos-$ARCH.dmg"
rm -f "$DMG"
STAGING=$(mktemp -d)
cp -R "$APP" "$STAGING/"
ln -s /Applications "$STAGING/Applications"
hdiutil create -volname "StageLens $VERSION" -srcfolder "$STAGING" -ov -format UDZO "$DMG"
rm -rf "$STAGING"

if [[ -n "${APPLE_SIGN_IDENTITY:-}" && -n "${APPLE_ID:-}" ]]; then
  codesign --force --timestamp --sign "$APPLE_SIGN_IDENTITY" "$DMG"
  xcrun notarytool submit "$DMG" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
    --password "$APPLE_APP_PASSWORD" --wait
  xcrun stapler staple "$DMG"
  spctl --assess --type open --context context:primary-signature --verbose "$DMG"
else
  echo "not notarized: set APPLE_SIGN_IDENTITY, APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD" >&2
fi
echo "$DMG"
