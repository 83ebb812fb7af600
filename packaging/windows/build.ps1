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
# GGML_CUDA_NO_VMM: ggml-cuda then needs only the CUDA runtime DLLs we ship, not the driver's
# nvcuda.dll at load time, so the CUDA build still starts (on the CPU) on a machine without an
# NVIDIA driver, such as the CI runner that self-tests it.
if ($Variant -eq "cuda") { $env:CMAKE_ARGS += " -DGGML_CUDA=on -DGGML_CUDA_NO_VMM=ON" }
& $Py -m pip wheel --no-cache-dir --no-deps -w "build\wheels-$Variant" "llama-cpp-python==0.3.36"
if ($LASTEXITCODE -ne 0) { throw "llama-cpp-python build failed" }
$Wheel = Get-ChildItem "build\wheels-$Variant\llama_cpp_python-*.whl" | Select-Object -First 1
& $Py -m pip install $Wheel.FullName . "pyinstaller>=6.10"
if ($LASTEXITCODE -ne 0) { throw "installing StageLens failed" }
& $Py -m PyInstaller --noconfirm --clean --distpath build\pyinstaller\dist --workpath build\pyinstaller\work packaging\windows\stagelens.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
if ($Variant -eq "cuda") {
    # PyInstaller collects these as dependencies of ggml-cuda.dll when the toolkit's bin is on PATH
    foreach ($Dll in "cudart64_*.dll", "cublas64_*.dll", "cublasLt64_*.dll") {
        if (-not (Get-ChildItem -Recurse build\pyinstaller\dist\StageLens -Filter $Dll)) { throw "$Dll is missing from the CUDA build" }
    }
}

$env:QT_QPA_PLATFORM = "offscreen"
& build\pyinstaller\dist\StageLens\stagelens-cli.exe --self-test
if ($LASTEXITCODE -ne 0) { throw "self-test failed" }
Remove-Item Env:QT_QPA_PLATFORM

New-Item -ItemType Directory -Force dist | Out-Null
Compress-Archive -Force build\pyinstaller\dist\StageLens "dist\StageLens-$Version-windows-x64-$Variant.zip"
iscc /DAppVersion=$Version /DVariant=$Variant /DSourceDir=..\..\build\pyinstaller\dist\StageLens /O..\..\dist packaging\windows\installer.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
