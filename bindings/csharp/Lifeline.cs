// lifeline for C# (.NET and Mono): P/Invoke over the C ABI (lifeline.h).
// lifeline.dll on Windows, liblifeline.so.1 on Linux (Mono and .NET map
// DllImport("lifeline") to both). Thread-safety as in lifeline.h: a Client
// or Server may be used from any thread; Dispose must not race other calls.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Lifeline
{
    /// <summary>A call the library refused: Status is the LL_ERR_* code, Message the library's own words.</summary>
    public class LifelineException : Exception
    {
        public int Status { get; private set; }
        public LifelineException(int status, string message) : base(message) { Status = status; }
    }

    public enum EventType { State = 1, Data = 2, Presence = 3, List = 4, Overflow = 5 }
    public enum ClientState { Disconnected = 0, Connecting = 1, Online = 2, Reconnecting = 3, Stopped = 4 }

    /// <summary>One list entry (Event.Entries).</summary>
    public class Entry
    {
        public string Id, Remote, Labels, Transport, Node;
        public long SinceMs, LastSeenMs, RttUs, IntervalMs, TimeoutMs;
    }

    /// <summary>One event, copied out of the library (so it outlives ll_event_free).</summary>
    public class Event
    {
        public EventType Type;
        public ClientState State, Previous;
        public string Id, Remote, Kind, Reason, Server, Instance, Node;
        /// <summary>On a list: the answering cluster node cannot reach Redis (others' entries as last seen).</summary>
        public bool Degraded;
        public byte[] Data = new byte[0];
        public long Seq, AtMs, Count, Online;
        public List<Entry> Entries = new List<Entry>();
        public string Text { get { return Encoding.UTF8.GetString(Data); } }

        internal Event(IntPtr ev)
        {
            Type = (EventType)Native.ll_event_type(ev);
            Id = Native.Str(Native.ll_event_str(ev, 1));
            Remote = Native.Str(Native.ll_event_str(ev, 2));
            Kind = Native.Str(Native.ll_event_str(ev, 3));
            Reason = Native.Str(Native.ll_event_str(ev, 4));
            Server = Native.Str(Native.ll_event_str(ev, 5));
            Instance = Native.Str(Native.ll_event_str(ev, 9));
            Node = Native.Str(Native.ll_event_str(ev, 10));
            Degraded = Native.ll_event_int(ev, 34) != 0;
            State = (ClientState)Native.ll_event_int(ev, 20);
            Previous = (ClientState)Native.ll_event_int(ev, 21);
            Seq = Native.ll_event_int(ev, 22);
            AtMs = Native.ll_event_int(ev, 24);
            Count = Native.ll_event_int(ev, 30);
            Online = Native.ll_event_int(ev, 31);
            UIntPtr n;
            IntPtr p = Native.ll_event_data(ev, out n);
            if (p != IntPtr.Zero)
            {
                Data = new byte[(int)n];
                Marshal.Copy(p, Data, 0, Data.Length);
            }
            ulong count = (ulong)Native.ll_event_count(ev);
            for (ulong i = 0; i < count; i++)
            {
                var k = (UIntPtr)i;
                Entries.Add(new Entry {
                    Id = Native.Str(Native.ll_event_entry_str(ev, k, 1)),
                    Remote = Native.Str(Native.ll_event_entry_str(ev, k, 2)),
                    Labels = Native.Str(Native.ll_event_entry_str(ev, k, 7)),
                    Transport = Native.Str(Native.ll_event_entry_str(ev, k, 8)),
                    Node = Native.Str(Native.ll_event_entry_str(ev, k, 10)),
                    SinceMs = Native.ll_event_entry_int(ev, k, 26),
                    LastSeenMs = Native.ll_event_entry_int(ev, k, 25),
                    RttUs = Native.ll_event_entry_int(ev, k, 27),
                    IntervalMs = Native.ll_event_entry_int(ev, k, 28),
                    TimeoutMs = Native.ll_event_entry_int(ev, k, 29) });
            }
        }

        internal static Event Take(IntPtr ev)
        {
            try { return new Event(ev); } finally { Native.ll_event_free(ev); }
        }
    }

    internal static class Native
    {
        const string Lib = "lifeline";
        internal const int Ok = 0, ErrTimeout = 4;

        [DllImport(Lib)] internal static extern IntPtr ll_version();
        [DllImport(Lib)] internal static extern IntPtr ll_last_error();
        [DllImport(Lib)] internal static extern IntPtr ll_strerror(int status);
        [DllImport(Lib)] internal static extern int ll_event_type(IntPtr ev);
        [DllImport(Lib)] internal static extern IntPtr ll_event_str(IntPtr ev, int field);
        [DllImport(Lib)] internal static extern long ll_event_int(IntPtr ev, int field);
        [DllImport(Lib)] internal static extern IntPtr ll_event_data(IntPtr ev, out UIntPtr length);
        [DllImport(Lib)] internal static extern UIntPtr ll_event_count(IntPtr ev);
        [DllImport(Lib)] internal static extern IntPtr ll_event_entry_str(IntPtr ev, UIntPtr index, int field);
        [DllImport(Lib)] internal static extern long ll_event_entry_int(IntPtr ev, UIntPtr index, int field);
        [DllImport(Lib)] internal static extern void ll_event_free(IntPtr ev);
        [DllImport(Lib)] internal static extern int ll_client_new(out IntPtr client);
        [DllImport(Lib)] internal static extern int ll_client_set(IntPtr client, byte[] key, byte[] value);
        [DllImport(Lib)] internal static extern int ll_client_start(IntPtr client);
        [DllImport(Lib)] internal static extern int ll_client_stop(IntPtr client, int timeoutMs);
        [DllImport(Lib)] internal static extern int ll_client_destroy(IntPtr client);
        [DllImport(Lib)] internal static extern int ll_client_send(IntPtr client, byte[] data, UIntPtr length);
        [DllImport(Lib)] internal static extern int ll_client_list(IntPtr client, int timeoutMs, out IntPtr ev);
        [DllImport(Lib)] internal static extern int ll_client_subscribe(IntPtr client, int snapshot);
        [DllImport(Lib)] internal static extern int ll_client_get_state(IntPtr client, out int state);
        [DllImport(Lib)] internal static extern IntPtr ll_client_error(IntPtr client);
        [DllImport(Lib)] internal static extern int ll_client_poll(IntPtr client, int timeoutMs, out IntPtr ev);

        internal static string Str(IntPtr p)
        {
            if (p == IntPtr.Zero) return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            var bytes = new byte[n];
            Marshal.Copy(p, bytes, 0, n);
            return Encoding.UTF8.GetString(bytes);
        }

        internal static byte[] Z(string s)
        {
            if (s == null) return null;
            var b = Encoding.UTF8.GetBytes(s);
            Array.Resize(ref b, b.Length + 1);  // the terminating NUL
            return b;
        }

        internal static void Check(int status)
        {
            if (status != Ok) throw new LifelineException(status, Str(ll_last_error()));
        }
    }

    /// <summary>A client that stays connected, heartbeats and reconnects by itself.</summary>
    public sealed class Client : IDisposable
    {
        IntPtr handle;

        public Client()
        {
            Native.Check(Native.ll_client_new(out handle));
        }

        /// <summary>One option before Start (keys in lifeline.h): "servers", "id", "label", "interval", ...</summary>
        public Client Set(string key, string value)
        {
            Native.Check(Native.ll_client_set(Handle, Native.Z(key), Native.Z(value)));
            return this;
        }

        public void Start() { Native.Check(Native.ll_client_start(Handle)); }
        /// <summary>Says BYE and stops reconnecting, waiting up to timeoutMs for the BYE to be written.</summary>
        public void Stop(int timeoutMs = 1000) { Native.Check(Native.ll_client_stop(Handle, timeoutMs)); }

        public void Send(byte[] data) { Native.Check(Native.ll_client_send(Handle, data, (UIntPtr)data.Length)); }
        public void Send(string text) { Send(Encoding.UTF8.GetBytes(text)); }
        public void Subscribe(bool snapshot = false) { Native.Check(Native.ll_client_subscribe(Handle, snapshot ? 1 : 0)); }

        /// <summary>The online list, waiting up to timeoutMs.</summary>
        public Event List(int timeoutMs = 2000)
        {
            IntPtr ev;
            Native.Check(Native.ll_client_list(Handle, timeoutMs, out ev));
            return Event.Take(ev);
        }

        /// <summary>The next event, or null after timeoutMs (-1: wait for ever).</summary>
        public Event Poll(int timeoutMs)
        {
            IntPtr ev;
            int status = Native.ll_client_poll(Handle, timeoutMs, out ev);
            if (status == Native.ErrTimeout) return null;
            Native.Check(status);
            return Event.Take(ev);
        }

        public ClientState State
        {
            get { int s; Native.Check(Native.ll_client_get_state(Handle, out s)); return (ClientState)s; }
        }

        public string LastError { get { return Native.Str(Native.ll_client_error(Handle)); } }

        public static string Version { get { return Native.Str(Native.ll_version()); } }

        IntPtr Handle
        {
            get
            {
                if (handle == IntPtr.Zero) throw new ObjectDisposedException("Lifeline.Client");
                return handle;
            }
        }

        public void Dispose()
        {
            if (handle != IntPtr.Zero)
            {
                Native.ll_client_destroy(handle);
                handle = IntPtr.Zero;
            }
            GC.SuppressFinalize(this);
        }

        ~Client() { Dispose(); }
    }
}
