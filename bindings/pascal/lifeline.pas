{ lifeline for Delphi and Free Pascal (-Mdelphi): the C ABI (lifeline.h).
  lifeline.dll on Windows, liblifeline.so.1 on Linux. Strings in and out are
  UTF-8 (PAnsiChar); the polling functions fit a TTimer or a message loop:
  call ll_client_poll with a timeout of 0 from the GUI thread. }
unit lifeline;

interface

const
{$IFDEF MSWINDOWS}
  LifelineLib = 'lifeline.dll';
{$ELSE}
  LifelineLib = 'lifeline';
{$ENDIF}

  LL_OK = 0;
  LL_ERR_INVALID = 1;
  LL_ERR_STATE = 2;
  LL_ERR_NOT_FOUND = 3;
  LL_ERR_TIMEOUT = 4;
  LL_ERR_SYSTEM = 5;
  LL_ERR_HANDLE = 6;
  LL_ERR_INTERNAL = 7;

  LL_EVENT_STATE = 1;
  LL_EVENT_DATA = 2;
  LL_EVENT_PRESENCE = 3;
  LL_EVENT_LIST = 4;
  LL_EVENT_OVERFLOW = 5;

  LL_STATE_DISCONNECTED = 0;
  LL_STATE_CONNECTING = 1;
  LL_STATE_ONLINE = 2;
  LL_STATE_RECONNECTING = 3;
  LL_STATE_STOPPED = 4;

  LL_FIELD_ID = 1;
  LL_FIELD_REMOTE = 2;
  LL_FIELD_KIND = 3;
  LL_FIELD_REASON = 4;
  LL_FIELD_SERVER = 5;
  LL_FIELD_DATA = 6;
  LL_FIELD_LABELS = 7;
  LL_FIELD_TRANSPORT = 8;
  LL_FIELD_INSTANCE = 9;
  LL_FIELD_NODE = 10;
  LL_FIELD_STATE = 20;
  LL_FIELD_PREVIOUS_STATE = 21;
  LL_FIELD_SEQ = 22;
  LL_FIELD_COUNT = 30;
  LL_FIELD_ONLINE = 31;
  LL_FIELD_DEGRADED = 34;

type
  PLLClient = Pointer;
  PLLServer = Pointer;
  PLLEvent = Pointer;

function ll_version: PAnsiChar; cdecl; external LifelineLib;
function ll_last_error: PAnsiChar; cdecl; external LifelineLib;
function ll_strerror(status: Integer): PAnsiChar; cdecl; external LifelineLib;
function ll_event_type(ev: PLLEvent): Integer; cdecl; external LifelineLib;
function ll_event_str(ev: PLLEvent; field: Integer): PAnsiChar; cdecl; external LifelineLib;
function ll_event_int(ev: PLLEvent; field: Integer): Int64; cdecl; external LifelineLib;
{ ll_event_data under another name: Pascal is case-insensitive, and LL_EVENT_DATA is the event type. }
function ll_event_bytes(ev: PLLEvent; out length: NativeUInt): PAnsiChar; cdecl; external LifelineLib name 'll_event_data';
function ll_event_count(ev: PLLEvent): NativeUInt; cdecl; external LifelineLib;
function ll_event_entry_str(ev: PLLEvent; index: NativeUInt; field: Integer): PAnsiChar; cdecl; external LifelineLib;
procedure ll_event_free(ev: PLLEvent); cdecl; external LifelineLib;
function ll_client_new(out client: PLLClient): Integer; cdecl; external LifelineLib;
function ll_client_set(client: PLLClient; key, value: PAnsiChar): Integer; cdecl; external LifelineLib;
function ll_client_start(client: PLLClient): Integer; cdecl; external LifelineLib;
function ll_client_stop(client: PLLClient; timeout_ms: Integer): Integer; cdecl; external LifelineLib;
function ll_client_destroy(client: PLLClient): Integer; cdecl; external LifelineLib;
function ll_client_send(client: PLLClient; data: Pointer; length: NativeUInt): Integer; cdecl; external LifelineLib;
function ll_client_list(client: PLLClient; timeout_ms: Integer; out ev: PLLEvent): Integer; cdecl; external LifelineLib;
function ll_client_subscribe(client: PLLClient; snapshot: Integer): Integer; cdecl; external LifelineLib;
function ll_client_get_state(client: PLLClient; out state: Integer): Integer; cdecl; external LifelineLib;
function ll_client_poll(client: PLLClient; timeout_ms: Integer; out ev: PLLEvent): Integer; cdecl; external LifelineLib;

{ The library's message for the last failure on this thread, as a Pascal string. }
function LastError: string;
{ A UTF-8 field of an event as a Pascal string. }
function EventText(ev: PLLEvent; field: Integer): string;

implementation

function LastError: string;
begin
  Result := string(UTF8String(ll_last_error));
end;

function EventText(ev: PLLEvent; field: Integer): string;
begin
  Result := string(UTF8String(ll_event_str(ev, field)));
end;

end.
