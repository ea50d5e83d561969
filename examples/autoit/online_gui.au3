; Who is online, in a small AutoIt window: the list (refreshed every second
; with ll_client_list) and the presence events as they come (ll_client_subscribe).
; AutoIt3_x64.exe online_gui.au3 HOST:PORT
#AutoIt3Wrapper_UseX64=y
#include <GUIConstantsEx.au3>
#include <GuiListView.au3>
#include "lifeline.au3"

Local $sServer = $CmdLine[0] >= 1 ? $CmdLine[1] : "127.0.0.1:7000"
If Not _LL_Startup() Then Exit MsgBox(16, "lifeline", "cannot open lifeline.dll")

Global $hClient = _LL_ClientNew()
_LL_ClientSet($hClient, "servers", $sServer)
_LL_ClientSet($hClient, "id", "autoit-gui-" & @ComputerName)
If _LL_ClientStart($hClient) <> $LL_OK Then Exit MsgBox(16, "lifeline", _LL_LastError())

Global $hGui = GUICreate("lifeline: online at " & $sServer, 560, 400)
Global $idStatus = GUICtrlCreateLabel("connecting...", 10, 10, 540, 20)
Global $idList = GUICtrlCreateListView("id|address|rtt (ms)|labels", 10, 35, 540, 230)
Global $idLog = GUICtrlCreateEdit("", 10, 275, 540, 115)
GUISetState(@SW_SHOW)
AdlibRegister("OnTimer", 250)   ; the poll runs on this (the GUI) thread
Global $bSubscribed = False, $iLastRefresh = 0

While GUIGetMsg() <> $GUI_EVENT_CLOSE
WEnd
AdlibUnRegister("OnTimer")
_LL_ClientStop($hClient, 1000)
_LL_ClientDestroy($hClient)
_LL_Shutdown()

Func OnTimer()
    Local $pEvent = _LL_ClientPoll($hClient, 0)
    While $pEvent
        Switch _LL_EventType($pEvent)
            Case $LL_EVENT_STATE
                GUICtrlSetData($idStatus, _LL_EventStr($pEvent, $LL_FIELD_STATE) & " " & _LL_EventStr($pEvent, $LL_FIELD_SERVER))
                If _LL_EventInt($pEvent, $LL_FIELD_STATE) = $LL_STATE_ONLINE And Not $bSubscribed Then
                    $bSubscribed = (_LL_ClientSubscribe($hClient) = $LL_OK)
                EndIf
            Case $LL_EVENT_PRESENCE
                GUICtrlSetData($idLog, _LL_EventStr($pEvent, $LL_FIELD_KIND) & " " & _LL_EventStr($pEvent, $LL_FIELD_ID) _
                        & " " & _LL_EventStr($pEvent, $LL_FIELD_REASON) & @CRLF, 1)
                $iLastRefresh = 0
        EndSwitch
        _LL_EventFree($pEvent)
        $pEvent = _LL_ClientPoll($hClient, 0)
    WEnd
    If TimerDiff($iLastRefresh) > 1000 And _LL_ClientState($hClient) = $LL_STATE_ONLINE Then Refresh()
EndFunc

Func Refresh()
    $iLastRefresh = TimerInit()
    Local $pList = _LL_ClientList($hClient, 1000)
    If @error Then Return
    _GUICtrlListView_DeleteAllItems($idList)
    For $i = 0 To _LL_EventCount($pList) - 1
        GUICtrlCreateListViewItem(_LL_EntryStr($pList, $i, $LL_FIELD_ID) & "|" & _LL_EntryStr($pList, $i, $LL_FIELD_REMOTE) _
                & "|" & Round(_LL_EntryInt($pList, $i, $LL_FIELD_RTT_US) / 1000, 2) _
                & "|" & StringReplace(_LL_EntryStr($pList, $i, $LL_FIELD_LABELS), @LF, ", "), $idList)
    Next
    _LL_EventFree($pList)
EndFunc
