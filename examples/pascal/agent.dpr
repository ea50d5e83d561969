{ A lifeline agent in Delphi / Free Pascal (fpc -Mdelphi), on bindings/pascal/lifeline.pas.
    agent HOST:PORT[,HOST:PORT...] ID
  Stays online, reconnects by itself, says hello once online, echoes every DATA
  back as "echo:<payload>", and says BYE and exits on a DATA "quit".
  The way a VCL program would: OnTimer drains the queue with ll_client_poll(0)
  on the main thread, so no lifeline code ever runs on another thread. }
program agent;

{$IFDEF MSWINDOWS}{$APPTYPE CONSOLE}{$ENDIF}

uses
  SysUtils, lifeline;

type
  TAgent = class
  private
    FClient: PLLClient;
    FDone: Boolean;
    procedure Check(Status: Integer; const What: string);
    procedure Send(const Text: UTF8String);
    procedure Handle(Ev: PLLEvent);
  public
    constructor Create(const Servers, Id: string);
    destructor Destroy; override;
    procedure OnTimer(Sender: TObject);
    property Done: Boolean read FDone;
  end;

constructor TAgent.Create(const Servers, Id: string);
begin
  Check(ll_client_new(FClient), 'new');
  Check(ll_client_set(FClient, 'servers', PAnsiChar(UTF8String(Servers))), 'servers');
  Check(ll_client_set(FClient, 'id', PAnsiChar(UTF8String(Id))), 'id');
  Check(ll_client_set(FClient, 'label', 'lang=pascal'), 'label');
  Check(ll_client_set(FClient, 'backoff_cap', '2s'), 'backoff_cap');
  Check(ll_client_start(FClient), 'start');
end;

destructor TAgent.Destroy;
begin
  ll_client_destroy(FClient);
  inherited;
end;

procedure TAgent.Check(Status: Integer; const What: string);
begin
  if Status <> LL_OK then
    raise Exception.CreateFmt('%s: %s', [What, LastError]);
end;

procedure TAgent.Send(const Text: UTF8String);
begin
  Check(ll_client_send(FClient, PAnsiChar(Text), Length(Text)), 'send');
end;

procedure TAgent.Handle(Ev: PLLEvent);
var
  Len: NativeUInt;
  P: PAnsiChar;
  Payload: UTF8String;
begin
  case ll_event_type(Ev) of
    LL_EVENT_STATE:
      begin
        WriteLn('state ', EventText(Ev, LL_FIELD_STATE), ' ', EventText(Ev, LL_FIELD_SERVER), ' ',
          EventText(Ev, LL_FIELD_REASON));
        if ll_event_int(Ev, LL_FIELD_STATE) = LL_STATE_ONLINE then
          Send('hello from pascal');
      end;
    LL_EVENT_DATA:
      begin
        P := ll_event_bytes(Ev, Len);
        SetString(Payload, P, Len);
        WriteLn('data ', string(Payload));
        if Payload = 'quit' then
        begin
          Check(ll_client_stop(FClient, 1000), 'stop');
          WriteLn('bye');
          FDone := True;
        end
        else
          Send('echo:' + Payload);
      end;
    LL_EVENT_OVERFLOW:
      WriteLn('overflow ', ll_event_int(Ev, LL_FIELD_COUNT));
  end;
  Flush(Output);
end;

{ A TTimer's handler: takes whatever is queued, never blocks. }
procedure TAgent.OnTimer(Sender: TObject);
var
  Ev: PLLEvent;
begin
  while (not FDone) and (ll_client_poll(FClient, 0, Ev) = LL_OK) do
  begin
    try
      Handle(Ev);
    finally
      ll_event_free(Ev);
    end;
  end;
end;

var
  A: TAgent;
begin
  if ParamCount <> 2 then
  begin
    WriteLn(ErrOutput, 'usage: agent HOST:PORT[,HOST:PORT...] ID');
    Halt(2);
  end;
  try
    A := TAgent.Create(ParamStr(1), ParamStr(2));
    try
      while not A.Done do
      begin
        A.OnTimer(nil);
        Sleep(20);  { the timer's interval }
      end;
    finally
      A.Free;
    end;
  except
    on E: Exception do
    begin
      WriteLn(ErrOutput, 'lifeline: ', E.Message);
      Halt(1);
    end;
  end;
end.
