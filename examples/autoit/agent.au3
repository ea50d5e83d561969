; A lifeline agent in AutoIt (console): AutoIt3_x64.exe /ErrorStdOut agent.au3 HOST:PORT ID
; Stays online, reconnects by itself, says hello once online, echoes every
; DATA back as "echo:<payload>", and says BYE and exits on a DATA "quit".
#AutoIt3Wrapper_UseX64=y
#AutoIt3Wrapper_Change2CUI=y
#include "lifeline.au3"

If $CmdLine[0] <> 2 Then
    ConsoleWriteError("usage: agent.au3 HOST:PORT[,HOST:PORT...] ID" & @CRLF)
    Exit 2
EndIf
If Not _LL_Startup() Then
    ConsoleWriteError("cannot open lifeline.dll" & @CRLF)
    Exit 1
EndIf

Global $hClient = _LL_ClientNew()
If _LL_ClientSet($hClient, "servers", $CmdLine[1]) <> $LL_OK Or _LL_ClientSet($hClient, "id", $CmdLine[2]) <> $LL_OK _
        Or _LL_ClientSet($hClient, "label", "lang=autoit") <> $LL_OK Or _LL_ClientStart($hClient) <> $LL_OK Then
    ConsoleWriteError("lifeline: " & _LL_LastError() & @CRLF)
    Exit 1
EndIf

Global $bQuit = False
While Not $bQuit
    Local $pEvent = _LL_ClientPoll($hClient, 200)   ; short waits keep the script responsive
    If $pEvent Then
        Switch _LL_EventType($pEvent)
            Case $LL_EVENT_STATE
                ConsoleWrite("state " & _LL_EventStr($pEvent, $LL_FIELD_STATE) & " " & _LL_EventStr($pEvent, $LL_FIELD_SERVER) & @CRLF)
                If _LL_EventInt($pEvent, $LL_FIELD_STATE) = $LL_STATE_ONLINE Then _LL_ClientSend($hClient, "hello from autoit")
            Case $LL_EVENT_DATA
                Local $sData = _LL_EventStr($pEvent, $LL_FIELD_DATA)
                ConsoleWrite("data " & $sData & @CRLF)
                If $sData = "quit" Then
                    $bQuit = True
                Else
                    _LL_ClientSend($hClient, "echo:" & $sData)
                EndIf
            Case $LL_EVENT_OVERFLOW
                ConsoleWrite("overflow " & _LL_EventInt($pEvent, $LL_FIELD_COUNT) & @CRLF)
        EndSwitch
        _LL_EventFree($pEvent)
    EndIf
WEnd
_LL_ClientStop($hClient, 1000)
ConsoleWrite("bye" & @CRLF)
_LL_ClientDestroy($hClient)
_LL_Shutdown()
