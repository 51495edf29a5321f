@echo off
rem kali's front door on Windows: run an example app, or set up and run the test suite.
rem   demo                 list the examples
rem   demo intro           run examples\intro.py (needs nothing but Python)
rem   demo NAME --port 8090 --no-browser
rem   demo NAME --tab      open the app in a browser tab rather than a window of its own
rem   demo NAME --reload   new code takes over after every save, and the open pages refresh
rem   demo test [pytest args]   create .venv with the test tools, run every test
setlocal
cd /d "%~dp0"
rem The Python to use, as in demo.sh: the PYTHON variable if set, else the py launcher, else python.
set "PY=py -3"
where py >nul 2>nul || set "PY=python"
if defined PYTHON set "PY="%PYTHON%""
if "%~1"=="" goto list
if /i "%~1"=="list" goto list
if /i "%~1"=="-h" goto list
if /i "%~1"=="--help" goto list
if /i "%~1"=="test" goto test
set "NAME=%~1"
shift
if not exist "examples\%NAME%.py" (
  echo demo: no example called "%NAME%" 1>&2
  %PY% examples\catalog.py 1>&2
  exit /b 2
)
rem --port, --no-browser, --tab and --reload become the environment variables every kali app honours.
rem (cmd splits --port=8090 at the "=" by itself, so that spelling works too.)
rem Each block reads its arguments before its shifts run; "goto flags" then reads the next ones.
:flags
if /i "%~1"=="--port" (
  set "KALI_PORT=%~2"
  shift
  shift
  goto flags
)
if /i "%~1"=="--no-browser" (
  set "KALI_NO_BROWSER=1"
  shift
  goto flags
)
if /i "%~1"=="--tab" (
  set "KALI_WINDOW=tab"
  shift
  goto flags
)
if /i "%~1"=="--reload" (
  set "KALI_RELOAD=1"
  shift
  goto flags
)
%PY% "examples\%NAME%.py" %1 %2 %3 %4 %5 %6 %7 %8 %9
exit /b %ERRORLEVEL%
:list
%PY% examples\catalog.py
exit /b %ERRORLEVEL%
:test
shift
if not exist .venv\Scripts\python.exe (
  echo demo: creating .venv for the test tools 1>&2
  %PY% -m venv .venv || exit /b 1
)
rem Reinstall only when the requirements change (the same stamp file demo.sh uses).
fc /b tests\requirements.txt .venv\.kali-requirements >nul 2>nul && goto run_tests
.venv\Scripts\python.exe -m pip install --quiet --disable-pip-version-check -r tests\requirements.txt || exit /b 1
copy /y tests\requirements.txt .venv\.kali-requirements >nul
:run_tests
.venv\Scripts\python.exe -m pytest %1 %2 %3 %4 %5 %6 %7 %8 %9
exit /b %ERRORLEVEL%
