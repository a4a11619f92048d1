// pm2 process file: `pm2 start ecosystem.config.cjs` (see README, "Run as a daemon").
// One fork-mode process: Telegram allows only one long poller per bot token, so never cluster mode.
const path = require('node:path');

module.exports = {
  apps: [
    {
      name: 'mybot',
      cwd: __dirname,
      script: path.join(__dirname, 'src', 'main.ts'),
      // tsx runs the TypeScript sources directly: nothing to build, no dist/ to forget.
      // The interpreter is named because pm2 would pick bun for a .ts script.
      interpreter: 'node',
      node_args: ['--import', 'tsx'],
      exec_mode: 'fork',
      instances: 1,
      // the daemon calls process.send('ready') once the bus, the agent and every channel are up
      wait_ready: true,
      listen_timeout: 30_000,
      // longer than server.drain_timeout_s (20 s by default), so replies in flight are delivered
      kill_timeout: 30_000,
      shutdown_with_message: false,
      exp_backoff_restart_delay: 1000,
      max_memory_restart: '512M',
      // MYBOT_WORKSPACE from the environment `pm2 start` runs in is passed through untouched;
      // without it the daemon uses the project's default_workspace/
      env: {
        NODE_ENV: 'production',
      },
    },
    // Several processes (README, "Run on several processes"): with bus.backend: redis in
    // config.user.yaml, replace the app above by the two below (remove the "// " in front of
    // each line between the markers).
    // --- several processes: begin ---
    // // the gateway polls the platforms and delivers the replies: one per workspace
    // {
    //   name: 'mybot-gateway',
    //   cwd: __dirname,
    //   script: path.join(__dirname, 'src', 'main.ts'),
    //   interpreter: 'node',
    //   node_args: ['--import', 'tsx'],
    //   exec_mode: 'fork',
    //   instances: 1,
    //   wait_ready: true,
    //   listen_timeout: 30_000,
    //   kill_timeout: 30_000,
    //   exp_backoff_restart_delay: 1000,
    //   env: { NODE_ENV: 'production', MYBOT_ROLE: 'gateway' },
    // },
    // // the agents answer: as many as you like, each takes its share of the sessions from Redis
    // {
    //   name: 'mybot-agent',
    //   cwd: __dirname,
    //   script: path.join(__dirname, 'src', 'main.ts'),
    //   interpreter: 'node',
    //   node_args: ['--import', 'tsx'],
    //   exec_mode: 'fork',
    //   instances: 3,
    //   wait_ready: true,
    //   listen_timeout: 30_000,
    //   kill_timeout: 30_000,
    //   exp_backoff_restart_delay: 1000,
    //   env: { NODE_ENV: 'production', MYBOT_ROLE: 'agent' },
    // },
    // --- several processes: end ---
  ],
};
