import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/dist/**', 'benchmarks/results/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
      'no-restricted-imports': [
        'error',
        {
          paths: ['uWebSockets.js', '@btc-vision/uwebsockets.js'].map((name) => ({
            name,
            message: 'Use server/realtime/uws.ts: it loads the native build for this Node and never the JavaScript fallback.',
          })),
        },
      ],
    },
  },
  { files: ['server/realtime/uws.ts'], rules: { 'no-restricted-imports': 'off' } },
);
