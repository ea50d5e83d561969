; lifeline for AutoIt: DllCall wrappers over lifeline.dll (lifeline.h).
; 64-bit only: run the scripts with AutoIt3_x64.exe (#AutoIt3Wrapper_UseX64=y).
; Polling only: AutoIt's DllCallbackRegister callbacks must not run on a
; foreign thread, so call _LL_ClientPoll($hClient, 0) from AdlibRegister or
; the GUI message loop. Strings go to the library as UTF-8 (_LL_Utf8).
; Checked, not run: tests/bindings/check_autoit.py compares every DllCall here
; with lifeline.h (names, argument counts and types).
#include-once

Global Const $LL_OK = 0, $LL_ERR_TIMEOUT = 4
Global Const $LL_EVENT_STATE = 1, $LL_EVENT_DATA = 2, $LL_EVENT_PRESENCE = 3, $LL_EVENT_LIST = 4, $LL_EVENT_OVERFLOW = 5
Global Const $LL_STATE_ONLINE = 2
Global Const $LL_FIELD_ID = 1, $LL_FIELD_REMOTE = 2, $LL_FIELD_KIND = 3, $LL_FIELD_REASON = 4, $LL_FIELD_SERVER = 5
Global Const $LL_FIELD_DATA = 6, $LL_FIELD_LABELS = 7, $LL_FIELD_STATE = 20, $LL_FIELD_COUNT = 30, $LL_FIELD_ONLINE = 31
Global Const $LL_FIELD_RTT_US = 27, $LL_FIELD_SINCE_MS = 26, $LL_FIELD_NODE = 10, $LL_FIELD_DEGRADED = 34

Global $__g_hLifeline = -1

; Opens lifeline.dll (beside the script unless a path is given). Returns False and sets @error if it cannot.
Func _LL_Startup($sDll = @ScriptDir & "\lifeline.dll")
    $__g_hLifeline = DllOpen($sDll)
    If $__g_hLifeline = -1 Then Return SetError(1, 0, False)
    Return True
EndFunc

Func _LL_Shutdown()
    If $__g_hLifeline <> -1 Then DllClose($__g_hLifeline)
    $__g_hLifeline = -1
EndFunc

; A string as NUL-terminated UTF-8 bytes, for a "struct*" argument.
Func _LL_Utf8($s)
    Local $b = StringToBinary($s, 4)
    Local $t = DllStructCreate("byte[" & (BinaryLen($b) + 1) & "]")
    DllStructSetData($t, 1, $b)
    Return $t
EndFunc

; A UTF-8 string the library returned as a pointer.
Func _LL_FromUtf8($p)
    If $p = 0 Then Return ""
    Local $aLen = DllCall("msvcrt.dll", "ulong_ptr:cdecl", "strlen", "ptr", $p)
    If $aLen[0] = 0 Then Return ""
    Local $t = DllStructCreate("byte[" & $aLen[0] & "]", $p)
    Return BinaryToString(DllStructGetData($t, 1), 4)
EndFunc

; The library's message for the last failure on this thread.
Func _LL_LastError()
    Local $a = DllCall($__g_hLifeline, "ptr:cdecl", "ll_last_error")
    Return _LL_FromUtf8($a[0])
EndFunc

Func _LL_Version()
    Local $a = DllCall($__g_hLifeline, "str:cdecl", "ll_version")
    Return $a[0]
EndFunc

; Returns the client handle, or 0 with @error set.
Func _LL_ClientNew()
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_new", "ptr*", 0)
    If @error Or $a[0] <> $LL_OK Then Return SetError(1, 0, 0)
    Return $a[1]
EndFunc

Func _LL_ClientSet($hClient, $sKey, $sValue)
    Local $tKey = _LL_Utf8($sKey), $tValue = _LL_Utf8($sValue)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_set", "ptr", $hClient, "struct*", $tKey, "struct*", $tValue)
    Return $a[0]
EndFunc

Func _LL_ClientStart($hClient)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_start", "ptr", $hClient)
    Return $a[0]
EndFunc

Func _LL_ClientStop($hClient, $iTimeoutMs = 1000)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_stop", "ptr", $hClient, "int", $iTimeoutMs)
    Return $a[0]
EndFunc

Func _LL_ClientDestroy($hClient)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_destroy", "ptr", $hClient)
    Return $a[0]
EndFunc

Func _LL_ClientSend($hClient, $sText)
    Local $b = StringToBinary($sText, 4)
    Local $t = DllStructCreate("byte[" & BinaryLen($b) & "]")
    DllStructSetData($t, 1, $b)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_send", "ptr", $hClient, "struct*", $t, "ulong_ptr", BinaryLen($b))
    Return $a[0]
EndFunc

Func _LL_ClientSubscribe($hClient, $bSnapshot = False)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_subscribe", "ptr", $hClient, "int", $bSnapshot ? 1 : 0)
    Return $a[0]
EndFunc

Func _LL_ClientState($hClient)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_get_state", "ptr", $hClient, "int*", 0)
    Return $a[2]
EndFunc

; Round-trip time in microseconds, -1 until measured.
Func _LL_ClientRtt($hClient)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_get_rtt", "ptr", $hClient, "int64*", 0)
    Return $a[2]
EndFunc

; The online list as an event (free it with _LL_EventFree), or 0 with @error.
Func _LL_ClientList($hClient, $iTimeoutMs = 2000)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_list", "ptr", $hClient, "int", $iTimeoutMs, "ptr*", 0)
    If $a[0] <> $LL_OK Then Return SetError($a[0], 0, 0)
    Return $a[3]
EndFunc

; The next event (free it with _LL_EventFree), or 0 if none within $iTimeoutMs.
Func _LL_ClientPoll($hClient, $iTimeoutMs = 0)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_client_poll", "ptr", $hClient, "int", $iTimeoutMs, "ptr*", 0)
    If $a[0] <> $LL_OK Then Return 0
    Return $a[3]
EndFunc

Func _LL_EventType($pEvent)
    Local $a = DllCall($__g_hLifeline, "int:cdecl", "ll_event_type", "ptr", $pEvent)
    Return $a[0]
EndFunc

Func _LL_EventStr($pEvent, $iField)
    Local $a = DllCall($__g_hLifeline, "ptr:cdecl", "ll_event_str", "ptr", $pEvent, "int", $iField)
    Return _LL_FromUtf8($a[0])
EndFunc

Func _LL_EventInt($pEvent, $iField)
    Local $a = DllCall($__g_hLifeline, "int64:cdecl", "ll_event_int", "ptr", $pEvent, "int", $iField)
    Return $a[0]
EndFunc

Func _LL_EventCount($pEvent)
    Local $a = DllCall($__g_hLifeline, "ulong_ptr:cdecl", "ll_event_count", "ptr", $pEvent)
    Return $a[0]
EndFunc

Func _LL_EntryStr($pEvent, $iIndex, $iField)
    Local $a = DllCall($__g_hLifeline, "ptr:cdecl", "ll_event_entry_str", "ptr", $pEvent, "ulong_ptr", $iIndex, "int", $iField)
    Return _LL_FromUtf8($a[0])
EndFunc

Func _LL_EntryInt($pEvent, $iIndex, $iField)
    Local $a = DllCall($__g_hLifeline, "int64:cdecl", "ll_event_entry_int", "ptr", $pEvent, "ulong_ptr", $iIndex, "int", $iField)
    Return $a[0]
EndFunc

Func _LL_EventFree($pEvent)
    DllCall($__g_hLifeline, "none:cdecl", "ll_event_free", "ptr", $pEvent)
EndFunc
