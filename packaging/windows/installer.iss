; Inno Setup script for StageLens (x64). Built by build.ps1, which passes
; /DAppVersion=..., /DVariant=cpu|cuda and /DSourceDir=<one-folder build>.
#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef Variant
  #define Variant "cpu"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\pyinstaller\dist\StageLens"
#endif

[Setup]
AppId={{6F2B7B3E-5C1A-4E61-9B7E-2B8A1C5D9E47}
AppName=StageLens
AppVersion={#AppVersion}
AppPublisher=StageLens
DefaultDirName={autopf}\StageLens
DefaultGroupName=StageLens
DisableProgramGroupPage=yes
OutputBaseFilename=StageLens-{#AppVersion}-windows-x64-{#Variant}-setup
Compression=lzma2/max
SolidCompression=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
PrivilegesRequiredOverridesAllowed=dialog
WizardStyle=modern
UninstallDisplayIcon={app}\StageLens.exe

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\StageLens"; Filename: "{app}\StageLens.exe"
Name: "{autodesktop}\StageLens"; Filename: "{app}\StageLens.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\StageLens.exe"; Description: "{cm:LaunchProgram,StageLens}"; Flags: nowait postinstall skipifsilent
