// The developer commands' names and help, apart from their code: the bin needs these for every command and loads
// the commands themselves (the SDK client and its documents) only to run one.
import { CREATE_KEY_COMMAND, DEFAULT_HERALD_URL } from '../config/cli';

export const CLIENT_COMMANDS = ['listen', 'trigger', 'endpoints', 'events', 'deliveries', 'event-types', 'replay'] as const;

export const CLIENT_USAGE = `Developer commands: npx herald <command> from the project folder. They talk to a running Herald at
--url or HERALD_URL (default ${DEFAULT_HERALD_URL}), sending the API key from --api-key or HERALD_API_KEY
(make one with ${CREATE_KEY_COMMAND}):
  listen --forward-to <url> [--endpoint <id>] [--application <id>] [--events <a,b>] [--secret <whsec_>]
            forward each published event, signed, to a local server and print the outcome
  trigger <event-type> [--data <json>] [--application <id>] [--version <v>]
            publish an event; without --data, the catalog's example
  endpoints [--application <id>]       list endpoints
  events [--type <t>] [--application <id>] [--limit <n>]
                                       list recent events
  deliveries [--status <S>] [--endpoint <id>] [--event <id>] [--limit <n>]
                                       list recent deliveries
  event-types                          list the event type catalog
  replay [--endpoint <id>] [--application <id>] [--event-type <t>] [--since <ISO>] [--until <ISO>]
         [--error-kind <KIND>] [--dry-run]
            re-queue the matching dead letters (dead-lettered in [since, until)) and follow the progress;
            --dry-run only counts them
  Every one takes --json for machine-readable output.`;
