// A lifeline agent in C# (bindings/csharp/Lifeline.cs), polling style.
//   mono Agent.exe HOST:PORT[,HOST:PORT...] ID
// Stays online, reconnects by itself, says hello once online, echoes every
// DATA back as "echo:<payload>", and says BYE and exits on a DATA "quit".
using System;
using Lifeline;

static class Agent
{
    static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: Agent.exe HOST:PORT[,HOST:PORT...] ID");
            return 2;
        }
        try
        {
            using (var client = new Client())
            {
                client.Set("servers", args[0]).Set("id", args[1]).Set("label", "lang=csharp").Set("backoff_cap", "2s");
                client.Start();
                for (;;)
                {
                    var ev = client.Poll(1000);
                    if (ev == null) continue;
                    switch (ev.Type)
                    {
                        case EventType.State:
                            Say("state " + ev.State.ToString().ToLowerInvariant() + " " + ev.Server + " " + ev.Reason);
                            if (ev.State == ClientState.Online) client.Send("hello from csharp");
                            break;
                        case EventType.Data:
                            Say("data " + ev.Text);
                            if (ev.Text == "quit")
                            {
                                client.Stop();
                                Say("bye");
                                return 0;
                            }
                            client.Send("echo:" + ev.Text);
                            break;
                        case EventType.Overflow:
                            Say("overflow " + ev.Count);
                            break;
                    }
                }
            }
        }
        catch (LifelineException e)
        {
            Console.Error.WriteLine("lifeline: " + e.Message);
            return 1;
        }
    }

    static void Say(string line)
    {
        Console.WriteLine(line);
        Console.Out.Flush();
    }
}
