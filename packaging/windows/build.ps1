# Build StageLens for Windows x64 and its installer.
#   .\packaging\windows\build.ps1 -Variant cpu     # portable CPU build
#   .\packaging\windows\build.ps1 -Variant cuda    # needs the CUDA toolkit (nvcc) on PATH
# Needs: Python 3.11+, Visual Studio Build Tools (C++), Inno Setup 6 (iscc) for the installer.
param([ValidateSet("cpu", "cuda")][string]$Variant = "cpu")
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$Version = python -c "import tomllib;print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"

python -m venv build\release-venv
$Py = "build\release-venv\Scripts\python.exe"
$env:CMAKE_ARGS = "-DGGML_NATIVE=OFF"
if ($Variant -eq "cuda") { $env:CMAKE_ARGS += " -DGGML_CUDA=on" }
& $Py -m pip wheel --no-cache-dir --no-deps -w "build\wheels-$Variant" "llama-cpp-python==0.3.36"
if ($LASTEXITCODE -ne 0) { throw "llama-cpp-python build failed" }
$Wheel = Get-ChildItem "build\wheels-$Variant\llama_cpp_python-*.whl" | Select-Object -First 1
& $Py -m pip install $Wheel.FullName . "pyinstaller>=6.10"
& $Py -m PyInstaller --noconfirm --clean --distpath build\pyinstaller\dist --workpath build\pyinstaller\work packaging\windows\stagelens.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

$env:QT_QPA_PLATFORM = "offscreen"
& build\pyinstaller\dist\StageLens\stagelens-cli.exe --self-test
if ($LASTEXITCODE -ne 0) { throw "self-test failed" }
Remove-Item Env:QT_QPA_PLATFORM

New-Item -ItemType Directory -Force dist | Out-Null
Compress-Archive -Force build\pyinstaller\dist\StageLens "dist\StageLens-$Version-windows-x64-$Variant.zip"
iscc /DAppVersion=$Version /DVariant=$Variant /DSourceDir=..\..\build\pyinstaller\dist\StageLens /O..\..\dist packaging\windows\installer.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
