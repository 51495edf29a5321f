@echo off
rem kalis front door on Windows: run an example app, or set up and run the test suite.
rem   demo              list the examples
rem   demo intro        run examples\intro.py (needs nothing but Python)
rem   demo NAME --port 8090 --no-browser
rem   demo test         create .venv with the test tools, run every test
setlocal
cd /d "%~dp0"
set PY=py -3
where py >nul 2>nul || set PY=python
if "%~1"=="" goto list
if /i "%~1"=="list" goto list
if /i "%~1"=="test" goto test
set NAME=%~1
shift
if not exist "examples\%NAME%.py" (
  echo demo: no example called "%NAME%" 1>&2
  %PY% examples\catalog.py
  exit /b 2
)
:flags
if /i "%~1"=="--port" (set KALI_PORT=%~2& shift & shift & goto flags)
if /i "%~1"=="--no-browser" (set KALI_NO_BROWSER=1& shift & goto flags)
%PY% examples\%NAME%.py %1 %2 %3 %4 %5 %6 %7 %8 %9
exit /b %ERRORLEVEL%
:list
%PY% examples\catalog.py
exit /b %ERRORLEVEL%
:test
shift
if not exist .venv\Scripts\python.exe %PY% -m venv .venv || exit /b 1
.venv\Scripts\python.exe -m pip install --quiet --disable-pip-version-check -r tests\requirements.txt || exit /b 1
.venv\Scripts\python.exe -m pytest %1 %2 %3 %4 %5 %6 %7 %8 %9
exit /b %ERRORLEVEL%
